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
