"""Hostile input through the real handlers (moto's DynamoDB, the Management API fake):
each class of input that once crashed a handler now gets its documented answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from functions.connect import app as connect_app
from functions.default import app as default_app
from functions.publish import app as publish_app
from switchboard import actions
from switchboard.router import Route
from switchboard.store import ConnectionModel
from tests.conftest import (
    CONTEXT,
    ManagementApiFake,
    connect,
    load_event,
    make_token,
    send_frame,
)

ME = "Fz1xWfAGIAMCKsA="
SERVER = make_token("backend", ttl=3600, scope="publish")
DEEP = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def me(management: ManagementApiFake) -> ManagementApiFake:
    connect(ME, "alice")
    send_frame(ME, {"action": "subscribe", "channel": "room", "id": "s"})
    return management


def logged_tracebacks(caplog: pytest.LogCaptureFixture) -> int:
    """How many log records carry a traceback."""
    return sum(1 for record in caplog.records if record.exc_info)


def reply(management: ManagementApiFake) -> dict[str, Any]:
    return management.replies(ME)[-1]


# ---------------------------------------------------------------- frames


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(r'{"action":"ping","id":"\ud800"}', "lone UTF-16 surrogate", id="id"),
        pytest.param(r'{"action":"\udfff","id":"x"}', "lone UTF-16 surrogate", id="action"),
        pytest.param(r'{"action":"ping","\ud800":1}', "lone UTF-16 surrogate", id="key"),
        pytest.param(
            r'{"action":"publish","channel":"room","data":"a\ud83d"}',
            "lone UTF-16 surrogate",
            id="data-high-surrogate-at-the-end",
        ),
        pytest.param(
            '{"action":"publish","channel":"room","data":' + "[" * DEEP + "]" * DEEP + "}",
            "nested deeper than 32 levels",
            id="nested-10000",
        ),
        pytest.param(
            '{"action":"publish","channel":"room","data":' + "[" * 32 + "]" * 32 + "}",
            "nested deeper than 32 levels",
            id="nested-33",
        ),
        pytest.param('{"action":"publish","channel":"room","data":1e400}', "overflows", id="1e400"),
        pytest.param(
            '{"action":"publish","channel":"room","data":-1e400}', "overflows", id="-1e400"
        ),
        pytest.param(
            '{"action":"publish","channel":"room","data":1' + "0" * 400 + "}",
            "overflows",
            id="integer-of-401-digits",
        ),
        pytest.param('{"action":"publish","channel":"room","data":NaN}', "NaN", id="nan"),
        pytest.param(
            '{"action":"publish","channel":"room","data":Infinity}', "Infinity", id="infinity"
        ),
        pytest.param(
            '{"action":"publish","channel":"room","data":-Infinity}', "Infinity", id="-infinity"
        ),
    ],
)
def test_a_hostile_frame_gets_one_bad_request_and_publishes_nothing(
    me: ManagementApiFake, body: str, message: str
) -> None:
    before = len(me.replies(ME))
    send_frame(ME, body)
    assert len(me.replies(ME)) == before + 1
    answer = reply(me)
    assert (answer["type"], answer["code"]) == ("error", "bad_request")
    assert message in answer["message"]
    assert "id" not in answer or answer["id"] == "x"
    send_frame(ME, {"action": "history", "channel": "room", "id": "h"})
    assert reply(me)["messages"] == []


def test_a_frame_at_the_nesting_limit_is_published_and_delivered(me: ManagementApiFake) -> None:
    data: Any = "deep"
    for _ in range(31):  # the frame object itself is level 1
        data = [data]
    send_frame(ME, {"action": "publish", "channel": "room", "data": data, "id": "p"})
    message, ack = me.replies(ME)[-2:]
    assert (ack["type"], ack["id"], ack["seq"]) == ("ack", "p", 1)
    assert message["data"] == data


def test_a_surrogate_pair_is_text_and_round_trips(me: ManagementApiFake) -> None:
    send_frame(ME, r'{"action":"publish","channel":"room","data":"\ud83d\ude00","id":"p"}')
    message, ack = me.replies(ME)[-2:]
    assert ack["type"] == "ack"
    assert message["data"] == "\N{GRINNING FACE}"


def test_a_bug_in_an_action_answers_internal_logged_once_and_the_socket_stays_up(
    me: ManagementApiFake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_request: actions.Request) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setitem(actions.router._routes, "history", Route("history", broken, True))
    caplog.clear()
    send_frame(ME, {"action": "history", "channel": "room", "id": "h"})
    assert reply(me) == {
        "type": "error",
        "id": "h",
        "code": "internal",
        "message": "internal error; try again",
    }
    assert logged_tracebacks(caplog) == 1
    send_frame(ME, {"action": "ping", "id": "after"})
    assert reply(me) == {"type": "pong", "id": "after", "connectionId": ME}


def test_a_reply_that_cannot_be_encoded_answers_internal_logged_once(
    me: ManagementApiFake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unencodable(_request: actions.Request) -> dict[str, Any]:
        return {"type": "ack", "bad": float("nan")}

    monkeypatch.setitem(actions.router._routes, "history", Route("history", unencodable, True))
    caplog.clear()
    send_frame(ME, {"action": "history", "channel": "room", "id": "h"})
    assert (reply(me)["code"], reply(me)["id"]) == ("internal", "h")
    assert logged_tracebacks(caplog) == 1


# ---------------------------------------------------------------- POST /publish bodies


def publish(body: str | bytes, *, base64_encoded: bool = False) -> tuple[int, dict[str, Any]]:
    request = load_event("publish")
    request["headers"].pop("idempotency-key", None)
    request["headers"]["authorization"] = f"Bearer {SERVER}"
    if base64_encoded:
        assert isinstance(body, bytes)
        request["body"] = base64.b64encode(body).decode()
        request["isBase64Encoded"] = True
    else:
        request["body"] = body
    response = publish_app.lambda_handler(request, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param('{"channel":"room","data":NaN}', "NaN", id="nan"),
        pytest.param('{"channel":"room","data":Infinity}', "Infinity", id="infinity"),
        pytest.param('{"channel":"room","data":1e400}', "overflows", id="1e400"),
        pytest.param(r'{"channel":"room","data":"\udc00"}', "lone UTF-16", id="surrogate"),
        pytest.param(
            '{"channel":"room","data":' + "[" * DEEP + "]" * DEEP + "}",
            "nested deeper than 32 levels",
            id="nested-10000",
        ),
        pytest.param('{"channel":"room"', "not valid JSON", id="truncated"),
    ],
)
def test_a_body_that_is_not_strict_json_is_400(
    me: ManagementApiFake, body: str, message: str
) -> None:
    status, answer = publish(body)
    assert (status, answer["code"]) == (400, "bad_request")
    assert message in answer["message"]
    send_frame(ME, {"action": "history", "channel": "room", "id": "h"})
    assert reply(me)["messages"] == []


def test_a_body_that_is_not_utf8_is_400(me: ManagementApiFake) -> None:
    status, answer = publish(b'{"channel":"room","data":"\xff\xfe"}', base64_encoded=True)
    assert (status, answer["code"]) == (400, "bad_request")
    assert "UTF-8" in answer["message"]


def test_a_body_flagged_base64_that_is_not_is_400(me: ManagementApiFake) -> None:
    request = load_event("publish")
    request["headers"].pop("idempotency-key", None)
    request["headers"]["authorization"] = f"Bearer {SERVER}"
    request["body"], request["isBase64Encoded"] = "{not base64}", True
    response = publish_app.lambda_handler(request, CONTEXT)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["message"] == "the body is not valid base64"


def test_a_utf8_body_sent_as_base64_is_read(me: ManagementApiFake) -> None:
    status, answer = publish('{"channel":"room","data":"é"}'.encode(), base64_encoded=True)
    assert (status, answer["seq"]) == (200, 1)


@pytest.mark.parametrize("extra", [1, 1024 * 1024])
def test_a_body_over_1_mb_is_413_whatever_its_size(me: ManagementApiFake, extra: int) -> None:
    body = '{"channel":"room","data":"' + "x" * (1024 * 1024 + extra) + '"}'
    status, answer = publish(body)
    assert (status, answer["code"]) == (413, "payload_too_large")


def test_a_bug_in_the_publish_api_answers_a_json_500_logged_once(
    me: ManagementApiFake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr("switchboard.server_publish.run_publish", broken)
    caplog.clear()
    status, answer = publish('{"channel":"room","data":1}')
    assert (status, answer) == (500, {"code": "internal", "message": "internal error"})
    assert logged_tracebacks(caplog) == 1


# ---------------------------------------------------------------- $connect tokens


def handshake(query: dict[str, list[str]] | None, protocols: str | None = None) -> int:
    event = load_event("connect")
    event["queryStringParameters"] = {k: v[-1] for k, v in query.items()} if query else None
    event["multiValueQueryStringParameters"] = query
    if protocols is not None:
        event["headers"]["Sec-WebSocket-Protocol"] = protocols
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [protocols]
    status: int = connect_app.lambda_handler(event, CONTEXT)["statusCode"]
    return status


def _signed(payload: str) -> str:
    import hashlib
    import hmac

    from tests.conftest import SECRET

    signing_input = (
        f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(payload.encode())}"
    )
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_two_token_query_parameters_are_refused(aws: None) -> None:
    assert handshake({"token": [make_token("mallory"), make_token("alice")]}) == 401
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get(ME)


def test_a_token_in_the_query_and_another_in_the_subprotocol_are_refused(aws: None) -> None:
    both = handshake({"token": [make_token("alice")]}, f"switchboard, {make_token('bob')}")
    assert both == 401
    assert handshake(None, f"switchboard, {make_token('bob')}") == 200


def _exp_in(seconds: int) -> int:
    import time

    return int(time.time()) + seconds


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda: f'{{"sub":"alice","exp":"{_exp_in(600)}"}}', id="exp-a-string"),
        pytest.param(lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"nbf":"0"}}', id="nbf-string"),
        pytest.param(lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"iat":true}}', id="iat-bool"),
        pytest.param(lambda: '{"sub":"alice","exp":1e300}', id="exp-beyond-2^53"),
        pytest.param(lambda: '{"sub":"alice","exp":Infinity}', id="exp-infinity"),
        pytest.param(lambda: '{"sub":"alice","exp":1e400}', id="exp-overflow"),
        pytest.param(lambda: f'{{"sub":"\\ud800","exp":{_exp_in(600)}}}', id="sub-surrogate"),
        pytest.param(
            lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"presence":"\\udc00"}}',
            id="presence-surrogate",
        ),
        pytest.param(
            lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"presence":NaN}}', id="presence-nan"
        ),
        pytest.param(
            lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"p":' + "[" * 1200 + "]" * 1200 + "}",
            id="claims-nested-1200",
        ),
        pytest.param(
            lambda: f'{{"sub":"alice","exp":{_exp_in(600)},"jti":"\\ud800"}}', id="jti-surrogate"
        ),
    ],
)
def test_claims_that_are_not_strict_or_cannot_be_stored_get_401(aws: None, payload: Any) -> None:
    assert handshake({"token": [_signed(payload())]}) == 401
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get(ME)


def test_numeric_dates_as_numbers_are_accepted(aws: None) -> None:
    exp = _exp_in(600)
    assert handshake({"token": [_signed(f'{{"sub":"alice","exp":{exp}.5,"iat":0}}')]}) == 200


def test_a_bug_at_connect_answers_500_logged_once(
    aws: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("switchboard.store.Store.put_connection", broken)
    caplog.clear()
    assert handshake({"token": [make_token("alice")]}) == 500
    assert logged_tracebacks(caplog) == 1


def test_default_still_answers_when_the_reply_id_is_hostile(me: ManagementApiFake) -> None:
    """The case from the issue: the error reply to a hostile id itself crashed."""
    event = load_event("default_ping")
    event["requestContext"]["connectionId"] = ME
    event["body"] = '{"action":"nope","id":"\\ud800"}'
    assert default_app.lambda_handler(event, CONTEXT) == {"statusCode": 200}
    assert reply(me)["code"] == "bad_request"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            base64.b64encode(b'{"action":"ping","id":"\xff"}').decode(),
            "not UTF-8 text",
            id="not-utf8",
        ),
        pytest.param("e30", "not valid base64", id="not-base64"),
        pytest.param(base64.b64encode(b'{"action":"ping","id":"b"}').decode(), None, id="utf8"),
    ],
)
def test_a_base64_frame_is_decoded_or_refused_as_a_bad_request(
    me: ManagementApiFake, caplog: pytest.LogCaptureFixture, body: str, message: str | None
) -> None:
    """API Gateway passes text frames only (binary closes with 1003), so ``isBase64Encoded``
    comes only from a direct invocation; still a frame, answered as one, never a traceback."""
    event = load_event("default_ping")
    event["requestContext"]["connectionId"] = ME
    event["body"], event["isBase64Encoded"] = body, True
    caplog.clear()
    assert default_app.lambda_handler(event, CONTEXT) == {"statusCode": 200}
    answer = reply(me)
    if message is None:
        assert answer == {"type": "pong", "id": "b", "connectionId": ME}
    else:
        assert (answer["type"], answer["code"]) == ("error", "bad_request")
        assert message in answer["message"]
        assert "id" not in answer
    assert logged_tracebacks(caplog) == 0
