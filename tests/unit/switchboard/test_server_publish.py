"""The HTTP API's logic on the in-memory store: publish, batches, direct, history."""

from __future__ import annotations

import pytest

from switchboard import server_publish
from switchboard.auth import Identity
from switchboard.errors import BadRequestError, ForbiddenError
from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection


def caller(channels: tuple[str, ...] | None = None) -> server_publish.Caller:
    identity = Identity(user_id="backend", capabilities=channels, expires_at=2_000_000_000)
    return server_publish.Caller(identity=identity, name="backend")


def test_a_batch_is_all_or_nothing() -> None:
    box, store, _sender = make_container()
    realtime = box.realtime(ENDPOINT)
    request = {"messages": [{"channel": "room:a", "data": 1}, {"channel": "secret", "data": 2}]}
    with pytest.raises(ForbiddenError):
        server_publish.run_publish(realtime, caller(("room:*",)), request)
    assert store.history == {}  # refused before the first was published
    answer = server_publish.run_publish(realtime, caller(), {"channels": ["a", "b"], "data": 3})
    assert [(r["channel"], r["seq"]) for r in answer["results"]] == [("a", 1), ("b", 1)]


def test_user_messages_and_history() -> None:
    box, _store, sender = make_container()
    realtime = box.realtime(ENDPOINT)
    open_connection(box, "A=", "alice")
    sent = server_publish.run_user_message(realtime, caller(), "alice", {"data": "hi"})
    assert sent == {"user": "alice", "delivered": 1, "pruned": 0, "failed": 0}
    assert sender.frames["A="][0]["type"] == "direct"
    with pytest.raises(BadRequestError):
        server_publish.run_user_message(realtime, caller(), "", {"data": "hi"})
    server_publish.run_publish(realtime, caller(), {"channel": "room:a", "data": 1})
    page = server_publish.read_history(realtime, caller(), "room:a", {"limit": "0"})
    assert (page["seq"], page["messages"]) == (1, [])
    with pytest.raises(BadRequestError):
        server_publish.read_history(realtime, caller(), "room:a", {"limit": "x"})
