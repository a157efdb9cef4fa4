"""$default through the real handler: every action and every error code.

DynamoDB is moto's; the Management API answers come from ManagementApiFake,
behind a real botocore client.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from functions.default import app
from switchboard import services
from switchboard.store import SubscriptionModel
from tests.conftest import (
    CONNECTED_AT_MS,
    MANAGEMENT_ENDPOINT,
    ManagementApiFake,
    connect,
    load_event,
    make_token,
    send_frame,
)

ME = "Fz1xWfAGIAMCKsA="


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test here runs on both senders: the delivery engine and the boto3 client."""
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ["fast", "boto3"], indirect=True)


def send(body: Any, *, connection_id: str = ME, ctx: Any = None) -> None:
    send_frame(connection_id, body, ctx)


def last_reply(management: ManagementApiFake, connection_id: str = ME) -> dict[str, Any]:
    return management.replies(connection_id)[-1]


@pytest.fixture
def me(management: ManagementApiFake) -> ManagementApiFake:
    connect(ME, "alice", channels=["room:*", "news"])
    return management


@pytest.mark.parametrize(
    "event_name",
    ["default_ping", "default_subscribe", "default_unsubscribe", "default_publish"],
)
def test_sample_events_get_their_reply(
    me: ManagementApiFake, lambda_context: Any, event_name: str
) -> None:
    event = load_event(event_name)
    assert app.lambda_handler(event, lambda_context) == {"statusCode": 200}
    reply = last_reply(me)
    expected_id = json.loads(event["body"])["id"]
    assert reply["id"] == expected_id
    assert reply["type"] in {"ack", "pong"}


def test_ping_answers_with_the_connection_id(me: ManagementApiFake, lambda_context: Any) -> None:
    send({"action": "ping", "id": "k1"}, ctx=lambda_context)
    assert last_reply(me) == {"type": "pong", "id": "k1", "connectionId": ME}


def test_ping_without_id(me: ManagementApiFake, lambda_context: Any) -> None:
    send({"action": "ping"}, ctx=lambda_context)
    assert last_reply(me) == {"type": "pong", "connectionId": ME}


def test_subscribe_acks_with_the_channel_position(
    me: ManagementApiFake, lambda_context: Any
) -> None:
    send({"action": "subscribe", "channel": "room:lobby", "id": "s1"}, ctx=lambda_context)
    assert last_reply(me) == {
        "type": "ack",
        "id": "s1",
        "channel": "room:lobby",
        "epoch": None,
        "seq": 0,
    }
    assert SubscriptionModel.get("room:lobby", ME).user_id == "alice"


def test_publish_reaches_subscribers_with_growing_seq(
    me: ManagementApiFake, lambda_context: Any
) -> None:
    other = "Gx2yXgBHJBNDLtB="
    connect(other, "bob")
    send({"action": "subscribe", "channel": "room:lobby"}, connection_id=other, ctx=lambda_context)
    send(
        {"action": "publish", "channel": "room:lobby", "data": {"n": 1}, "id": "p1"},
        ctx=lambda_context,
    )
    send(
        {"action": "publish", "channel": "room:lobby", "data": [2], "id": "p2"}, ctx=lambda_context
    )
    first, second = (f for f in me.replies(other) if f["type"] == "message")
    assert first["channel"] == "room:lobby"
    assert first["data"] == {"n": 1}
    assert first["from"] == "alice"
    assert isinstance(first["ts"], int)
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["data"] == [2]
    ack = last_reply(me)
    assert ack["type"] == "ack"
    assert ack["id"] == "p2"
    assert ack["seq"] == 2
    assert (ack["delivered"], ack["pruned"], ack["failed"]) == (1, 0, 0)
    # a later subscriber learns the position
    send({"action": "subscribe", "channel": "room:lobby", "id": "s2"}, ctx=lambda_context)
    assert last_reply(me)["seq"] == 2
    assert last_reply(me)["epoch"] == ack["epoch"]


def test_unsubscribe_stops_delivery(me: ManagementApiFake, lambda_context: Any) -> None:
    send({"action": "subscribe", "channel": "news"}, ctx=lambda_context)
    send({"action": "unsubscribe", "channel": "news", "id": "u1"}, ctx=lambda_context)
    assert last_reply(me) == {"type": "ack", "id": "u1", "channel": "news"}
    send({"action": "publish", "channel": "news", "data": "x"}, ctx=lambda_context)
    assert [f["type"] for f in me.replies(ME)] == ["ack", "ack", "ack"]
    assert last_reply(me)["delivered"] == 0


@pytest.mark.parametrize(
    ("since", "epoch", "recovered", "replayed"),
    [
        pytest.param(1, None, True, [], id="up-to-date"),
        pytest.param(1, "current", True, [], id="up-to-date-same-epoch"),
        pytest.param(0, None, True, [1], id="missed-one-replayed"),
        pytest.param(0, "stale-epoch", False, [], id="stale-epoch"),
        pytest.param(5, None, False, [], id="ahead-of-the-channel"),
    ],
)
def test_subscribe_with_since_reports_recovery(
    me: ManagementApiFake,
    lambda_context: Any,
    since: int,
    epoch: str | None,
    recovered: bool,
    replayed: list[int],
) -> None:
    send({"action": "publish", "channel": "room:a", "data": 1}, ctx=lambda_context)
    current = last_reply(me)["epoch"]
    frame: dict[str, Any] = {"action": "subscribe", "channel": "room:a", "since": since, "id": "r"}
    if epoch is not None:
        frame["epoch"] = current if epoch == "current" else epoch
    send(frame, ctx=lambda_context)
    reply = last_reply(me)
    assert reply["recovered"] is recovered
    assert reply["seq"] == 1
    assert [f["seq"] for f in me.replies(ME) if f["type"] == "message"] == replayed


BAD_FRAMES = [
    pytest.param("this is not json", None, "bad_request", id="not-json"),
    pytest.param("", None, "bad_request", id="empty"),
    pytest.param("[1, 2]", None, "bad_request", id="not-an-object"),
    pytest.param('{"id": "x1"}', "x1", "bad_request", id="no-action"),
    pytest.param('{"action": 5, "id": "x2"}', "x2", "bad_request", id="action-not-a-string"),
    pytest.param('{"action": "ping", "id": 7}', None, "bad_request", id="id-not-a-string"),
    pytest.param('{"action": "dance", "id": "x3"}', "x3", "unknown_action", id="unknown-action"),
    pytest.param(
        '{"action": "subscribe", "id": "x4"}', "x4", "bad_request", id="subscribe-no-channel"
    ),
    pytest.param(
        '{"action": "subscribe", "channel": "room lobby", "id": "x5"}',
        "x5",
        "bad_request",
        id="space-in-channel",
    ),
    pytest.param(
        json.dumps({"action": "subscribe", "channel": "r" * 129, "id": "x6"}),
        "x6",
        "bad_request",
        id="channel-too-long",
    ),
    pytest.param(
        '{"action": "subscribe", "channel": "room:a", "since": -1, "id": "x7"}',
        "x7",
        "bad_request",
        id="negative-since",
    ),
    pytest.param(
        '{"action": "subscribe", "channel": "room:a", "since": "3", "id": "x8"}',
        "x8",
        "bad_request",
        id="string-since",
    ),
    pytest.param(
        '{"action": "publish", "channel": "room:a", "id": "x9"}',
        "x9",
        "bad_request",
        id="publish-no-data",
    ),
    pytest.param(
        '{"action": "publish", "channel": "room:a", "data": NaN, "id": "xa"}',
        "xa",  # the id is read past the NaN
        "bad_request",
        id="nan",
    ),
    pytest.param(
        '{"action": "subscribe", "channel": "secret", "id": "xb"}',
        "xb",
        "forbidden",
        id="subscribe-forbidden",
    ),
    pytest.param(
        '{"action": "publish", "channel": "secret", "data": 1, "id": "xc"}',
        "xc",
        "forbidden",
        id="publish-forbidden",
    ),
    pytest.param(
        json.dumps(
            {"action": "publish", "channel": "room:a", "data": "x" * (128 * 1024 - 60), "id": "xd"}
        ),
        "xd",
        "payload_too_large",
        id="payload-too-large",
    ),
]


@pytest.mark.parametrize(("body", "frame_id", "code"), BAD_FRAMES)
def test_bad_frames_get_a_typed_error(
    me: ManagementApiFake, lambda_context: Any, body: str, frame_id: str | None, code: str
) -> None:
    send(body, ctx=lambda_context)
    reply = last_reply(me)
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert reply.get("id") == frame_id
    assert isinstance(reply["message"], str)
    assert reply["message"]


def test_a_payload_just_under_the_limit_is_published(
    me: ManagementApiFake, lambda_context: Any
) -> None:
    send({"action": "subscribe", "channel": "room:big"}, ctx=lambda_context)
    data = "x" * (128 * 1024 - 150)
    send(
        {"action": "publish", "channel": "room:big", "data": data, "id": "big"}, ctx=lambda_context
    )
    message = next(f for f in me.replies(ME) if f["type"] == "message")
    assert message["data"] == data
    assert len(json.dumps(message, separators=(",", ":")).encode()) <= 128 * 1024
    assert last_reply(me)["id"] == "big"


def test_publishing_too_fast_is_rate_limited(
    me: ManagementApiFake, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = services.message_handler(MANAGEMENT_ENDPOINT)
    monkeypatch.setattr(handler, "clock", lambda: CONNECTED_AT_MS / 1000 + 0.5)
    monkeypatch.setattr(handler, "settings", handler.settings.__class__(publish_rate_limit=3))
    for n in range(3):
        send(
            {"action": "publish", "channel": "room:a", "data": n, "id": f"ok{n}"},
            ctx=lambda_context,
        )
        assert last_reply(me)["type"] == "ack"
    send({"action": "publish", "channel": "room:a", "data": 3, "id": "late"}, ctx=lambda_context)
    assert last_reply(me) == {
        "type": "error",
        "id": "late",
        "code": "rate_limited",
        "message": "more than 3 publishes per second",
    }
    # the next second opens a new window
    monkeypatch.setattr(handler, "clock", lambda: CONNECTED_AT_MS / 1000 + 1.1)
    send({"action": "publish", "channel": "room:a", "data": 4, "id": "next"}, ctx=lambda_context)
    assert last_reply(me)["type"] == "ack"
    assert last_reply(me)["seq"] == 4


def test_an_unregistered_connection_is_forbidden(
    management: ManagementApiFake, lambda_context: Any
) -> None:
    send({"action": "subscribe", "channel": "room:a", "id": "z"}, ctx=lambda_context)
    assert last_reply(management)["code"] == "forbidden"
    send({"action": "ping", "id": "p"}, ctx=lambda_context)
    assert last_reply(management)["type"] == "pong"


def test_an_unexpected_failure_is_an_internal_error_reply(
    me: ManagementApiFake, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = services.store()

    def broken(*_: Any) -> None:
        raise RuntimeError("DynamoDB is having a day")

    monkeypatch.setattr(store, "subscribe", broken)
    send({"action": "subscribe", "channel": "room:a", "id": "boom"}, ctx=lambda_context)
    assert last_reply(me) == {
        "type": "error",
        "id": "boom",
        "code": "internal",
        "message": "internal error; try again",
    }


def test_a_reply_to_a_gone_sender_does_not_raise(
    me: ManagementApiFake, lambda_context: Any
) -> None:
    me.gone.add(ME)
    send({"action": "ping", "id": "k"}, ctx=lambda_context)
    assert me.replies(ME) == []


def test_a_failed_reply_does_not_raise(me: ManagementApiFake, lambda_context: Any) -> None:
    me.always_fail.add(ME)
    send({"action": "ping", "id": "k"}, ctx=lambda_context)
    assert me.attempts[ME] == 1


def test_log_lines_carry_the_connection_and_its_user(
    me: ManagementApiFake, lambda_context: Any
) -> None:
    stream = io.StringIO()
    handler = app.logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]

    def lines() -> list[dict[str, Any]]:
        out = [json.loads(line) for line in stream.getvalue().splitlines() if line]
        stream.seek(0)
        stream.truncate()
        return out

    try:
        token = make_token("alice")
        send({"action": "publish", "channel": "room:a", "data": 1, "id": "p"}, ctx=lambda_context)
        logged = lines()
        frame = next(line for line in logged if line.get("message") == "frame")
        assert (frame["connection_id"], frame["user_id"], frame["reply"]) == (ME, "alice", "ack")
        published = next(line for line in logged if line.get("message") == "published")
        assert published["user_id"] == "alice"  # the layer's log lines too
        assert token.split(".")[0] not in json.dumps(logged)
        # the next invocation starts clean: an unknown connection logs no stale user
        send({"action": "ping", "id": "x"}, connection_id="Unknownxxxxxxx=", ctx=lambda_context)
        frame = next(line for line in lines() if line.get("message") == "frame")
        assert frame["connection_id"] == "Unknownxxxxxxx="
        assert "user_id" not in frame
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
