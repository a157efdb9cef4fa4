"""The ``$default`` frame handler on the in-memory store: one reply per frame."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection


def answer(
    body: Any, connection_id: str = "A=", **settings: Any
) -> tuple[dict[str, Any] | None, Any]:
    box, _store, sender = make_container(**settings)
    open_connection(box, "A=", "alice", channels=["room:*"])
    reply = box.message_handler(ENDPOINT).handle(connection_id, json.dumps(body))
    return reply, sender


def test_ping_answers_with_the_connection_id_even_unregistered() -> None:
    reply, sender = answer({"action": "ping", "id": "1"}, connection_id="X=")
    assert reply == {"type": "pong", "id": "1", "connectionId": "X="}
    assert sender.frames["X="] == [reply]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"action": "nope", "id": "1"}, "unknown_action", id="unknown"),
        pytest.param(
            {"action": "subscribe", "channel": "other", "id": "1"}, "forbidden", id="glob"
        ),
        pytest.param(
            {"action": "publish", "channel": "room:a", "id": "1"}, "bad_request", id="no-data"
        ),
        pytest.param(
            {"action": "presence", "channel": "room:a", "id": "1"}, "bad_request", id="plain"
        ),
    ],
)
def test_refusals_are_error_frames_with_their_code(body: dict[str, Any], code: str) -> None:
    reply, _sender = answer(body)
    assert reply is not None
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "1", code)


def test_an_unregistered_connection_is_forbidden() -> None:
    reply, _sender = answer(
        {"action": "subscribe", "channel": "room:a", "id": "1"}, connection_id="X="
    )
    assert reply is not None
    assert reply["code"] == "forbidden"


def test_a_publish_over_the_rate_limit_is_rate_limited() -> None:
    box, _store, _sender = make_container(publish_rate_limit=1)
    open_connection(box, "A=")
    handler = box.message_handler(ENDPOINT)
    frame = json.dumps({"action": "publish", "channel": "room:a", "data": 1, "id": "p"})
    first, second = handler.handle("A=", frame), handler.handle("A=", frame)
    assert first is not None
    assert first["type"] == "ack"
    assert second is not None
    assert second["code"] == "rate_limited"


def test_publish_without_ack_gets_no_reply_and_a_bug_is_internal() -> None:
    box, _store, sender = make_container()
    open_connection(box, "A=")
    handler = box.message_handler(ENDPOINT)
    handler.handle("A=", json.dumps({"action": "subscribe", "channel": "room:a"}))
    quiet = {"action": "publish", "channel": "room:a", "data": 1, "ack": False}
    assert handler.handle("A=", json.dumps(quiet)) is None
    assert [f["type"] for f in sender.frames["A="]] == ["ack", "message"]
    box.realtime(ENDPOINT).publisher.store = None  # type: ignore[assignment]
    reply = handler.handle("A=", json.dumps({**quiet, "id": "b"}))
    assert reply == {
        "type": "error",
        "id": "b",
        "code": "internal",
        "message": "internal error; try again",
    }
