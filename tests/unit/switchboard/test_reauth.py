"""The ``auth`` action on the in-memory store: a fresh token of the same user replaces the
connection's capabilities; subscriptions no longer allowed end with ``unsubscribed``."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from tests.conftest import make_token
from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection


def setup() -> tuple[Any, Any, Any]:
    box, store, sender = make_container()
    open_connection(box, "A=", "alice", channels=["room:*", "presence-lobby"])
    open_connection(box, "B=", "bob", channels=["room:*", "presence-lobby"])
    handler = box.message_handler(ENDPOINT)
    for cid in ("A=", "B="):
        for channel in ("room:a", "room:b", "presence-lobby"):
            frame = {"action": "subscribe", "channel": channel, "id": "s"}
            assert handler.handle(cid, json.dumps(frame))["type"] == "ack"  # type: ignore[index]
    sender.frames.clear()
    return handler, store, sender


def auth(handler: Any, token: Any, cid: str = "A=") -> dict[str, Any]:
    reply = handler.handle(cid, json.dumps({"action": "auth", "token": token, "id": "t"}))
    assert reply is not None
    return dict(reply)


def test_narrowing_ends_the_subscriptions_no_longer_allowed() -> None:
    handler, store, sender = setup()
    token = make_token("alice", channels=["room:a"], ttl=600)
    reply = auth(handler, token)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert reply == {"type": "ack", "id": "t", "expiresAt": expires}
    # the ended subscriptions come first, each once, then the ack
    assert sender.frames["A="] == [
        {"type": "unsubscribed", "channel": "presence-lobby", "reason": "forbidden"},
        {"type": "unsubscribed", "channel": "room:b", "reason": "forbidden"},
        reply,
    ]
    assert store.channels_of("A=") == ["room:a"]
    assert store.get_connection("A=").capabilities == ("room:a",)
    # bob, on the presence channel, is told alice left
    assert sender.frames["B="] == [{"type": "leave", "channel": "presence-lobby", "user": "alice"}]
    # and the old capability is gone: room:b is forbidden now
    refused = handler.handle("A=", json.dumps({"action": "subscribe", "channel": "room:b"}))
    assert refused["code"] == "forbidden"


def test_widening_allows_a_channel_refused_before_and_ends_nothing() -> None:
    handler, store, sender = setup()
    before = handler.handle("A=", json.dumps({"action": "subscribe", "channel": "vip:1"}))
    assert before["code"] == "forbidden"
    reply = auth(handler, make_token("alice", channels=["room:*", "presence-lobby", "vip:*"]))
    assert reply["type"] == "ack"
    assert [f["type"] for f in sender.frames["A="]] == ["error", "ack"]
    after = handler.handle("A=", json.dumps({"action": "subscribe", "channel": "vip:1", "id": "v"}))
    assert (after["type"], after["channel"]) == ("ack", "vip:1")
    assert store.channels_of("A=") == ["presence-lobby", "room:a", "room:b", "vip:1"]


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        pytest.param(
            make_token("bob", channels=["room:a"], ttl=24 * 3600),  # made at collection time
            "unauthorized",
            "the token is for another user than this connection's",
            id="other-user",
        ),
        pytest.param(make_token("alice", ttl=-120), "unauthorized", None, id="expired"),
        pytest.param(
            make_token("alice", secret="x" * 40), "unauthorized", None, id="bad-signature"
        ),
        pytest.param("not.a.jwt", "unauthorized", None, id="malformed"),
        pytest.param("", "bad_request", "'token' is required (a non-empty string)", id="empty"),
        pytest.param(7, "bad_request", "'token' is required (a non-empty string)", id="number"),
    ],
)
def test_a_refused_token_changes_nothing(token: Any, code: str, message: str | None) -> None:
    handler, store, sender = setup()
    record = store.get_connection("A=")
    reply = auth(handler, token)
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "t", code)
    if message is not None:
        assert reply["message"] == message
    assert sender.frames["A="] == [reply]
    assert store.get_connection("A=") == record
    assert store.channels_of("A=") == ["presence-lobby", "room:a", "room:b"]
    assert "B=" not in sender.frames


def test_a_single_use_token_is_spent_once_across_connect_and_auth() -> None:
    handler, _store, _sender = setup()
    token = make_token("alice", channels=["room:a"], jti="once-1")
    assert auth(handler, token)["type"] == "ack"
    again = auth(handler, token)
    assert (again["code"], again["message"]) == ("unauthorized", "token already used")


def test_the_token_claims_without_channels_allow_every_channel() -> None:
    handler, store, sender = setup()
    assert auth(handler, make_token("alice"))["type"] == "ack"
    assert store.get_connection("A=").capabilities is None
    assert [f["type"] for f in sender.frames["A="]] == ["ack"]


def test_an_unregistered_connection_cannot_auth() -> None:
    handler, _store, _sender = setup()
    reply = auth(handler, make_token("alice"), cid="X=")
    assert reply["code"] == "forbidden"
