"""Frame parsing and shaping, with plain values."""

from __future__ import annotations

import json

import pytest

from switchboard import protocol
from switchboard.errors import BadRequestError, PayloadTooLargeError


def test_parse_a_frame() -> None:
    frame = protocol.parse_frame('{"action":"publish","channel":"a","data":null,"id":"7"}')
    assert (frame.action, frame.id) == ("publish", "7")
    assert frame.fields["data"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(None, "empty frame", id="none"),
        pytest.param("{", "not valid JSON", id="truncated"),
        pytest.param('"ping"', "JSON object", id="string"),
        pytest.param('{"action": ""}', "'action'", id="empty-action"),
        pytest.param('{"action": "ping", "id": ["x"]}', "'id'", id="id-list"),
        pytest.param(json.dumps({"action": "ping", "id": "x" * 129}), "'id'", id="id-too-long"),
        pytest.param(
            '{"action": "publish", "data": Infinity}',
            "Infinity is not a JSON number",
            id="infinity",
        ),
    ],
)
def test_bad_frames(body: str | None, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        protocol.parse_frame(body)


def test_peek_id_recovers_the_id_of_a_bad_frame() -> None:
    assert protocol.peek_id('{"id": "a1", "action": 3}') == "a1"
    assert protocol.peek_id("nope") is None
    assert protocol.peek_id('{"id": 3}') is None
    assert protocol.peek_id("[]") is None


def test_replies_have_the_contract_shapes() -> None:
    assert protocol.ack("1", seq=3) == {"type": "ack", "id": "1", "seq": 3}
    assert protocol.ack(None) == {"type": "ack"}
    assert protocol.error("2", "forbidden", "no") == {
        "type": "error",
        "id": "2",
        "code": "forbidden",
        "message": "no",
    }
    assert protocol.pong(None, "c=") == {"type": "pong", "connectionId": "c="}
    assert protocol.message("ch", {"a": 1}, 4, "u", 99, epoch="E1") == {
        "type": "message",
        "channel": "ch",
        "data": {"a": 1},
        "seq": 4,
        "epoch": "E1",
        "from": "u",
        "ts": 99,
    }


def test_encode_is_compact_utf8() -> None:
    assert protocol.encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_size_check_counts_the_envelope_and_multibyte_text() -> None:
    limit = protocol.MAX_FRAME_BYTES
    protocol.check_message_size("c", "x" * (limit - 200), "u")
    with pytest.raises(PayloadTooLargeError):
        protocol.check_message_size("c", "x" * (limit - 50), "u")
    # 3 bytes per character in UTF-8
    with pytest.raises(PayloadTooLargeError):
        protocol.check_message_size("c", "€" * (limit // 3), "u")


def test_peek_id_reads_an_id_past_other_violations_but_never_a_hostile_one() -> None:
    assert protocol.peek_id('{"id":"n","data":NaN}') == "n"
    assert protocol.peek_id('{"id":"d","data":' + "[" * 40 + "]" * 40 + "}") == "d"
    assert protocol.peek_id(r'{"id":"\ud800"}') is None
    assert protocol.peek_id('{"id":"x","data":' + "[" * 100_000 + "]" * 100_000 + "}") is None
    assert protocol.peek_id(None) is None


def test_a_frame_at_the_nesting_limit_parses_and_one_deeper_does_not() -> None:
    def nested(levels: int) -> str:  # the frame object is the first level
        return '{"action":"publish","data":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    assert protocol.parse_frame(nested(protocol.MAX_DEPTH)).action == "publish"
    with pytest.raises(BadRequestError, match="nested deeper than 32 levels"):
        protocol.parse_frame(nested(protocol.MAX_DEPTH + 1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(b"\xff", "not UTF-8", id="bytes-not-utf8"),
        pytest.param('"\ud800"', "lone UTF-16 surrogate", id="raw-surrogate-in-a-str"),
        pytest.param('"\\ud800"', "lone UTF-16 surrogate", id="escaped-lone-high"),
        pytest.param('"\\udc00\\ud800"', "lone UTF-16 surrogate", id="pair-in-the-wrong-order"),
        pytest.param("1e400", "overflows to infinity", id="1e400"),
        pytest.param("-" + "9" * 309, "overflows to infinity", id="309-nines"),
        pytest.param("1" + "0" * 400, "overflows to infinity", id="401-digits"),
        pytest.param("NaN", "NaN is not a JSON number", id="nan"),
        pytest.param("-Infinity", "-Infinity is not a JSON number", id="-infinity"),
        pytest.param("\ufeff{}", "not valid JSON", id="bom"),
    ],
)
def test_strict_json_refusals_say_what_is_wrong(text: str | bytes, message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        protocol.parse_json(text, "body")


def test_the_largest_finite_numbers_and_surrogate_pairs_are_accepted() -> None:
    largest = str(int(1.7976931348623157e308))
    assert protocol.parse_json(largest) == int(largest)
    assert protocol.parse_json("1.7976931348623157e308") == 1.7976931348623157e308
    assert protocol.parse_json("1e-400") == 0.0
    assert protocol.parse_json('"\\ud83d\\ude00"') == "\N{GRINNING FACE}"
    assert protocol.parse_json(b'{"a":"\xc3\xa9"}') == {"a": "é"}


def test_the_encoder_refuses_what_the_parser_never_returns() -> None:
    for value in (float("nan"), float("inf"), "\ud800"):
        with pytest.raises(ValueError, match=r"not JSON compliant|surrogates not allowed"):
            protocol.encode({"data": value})
