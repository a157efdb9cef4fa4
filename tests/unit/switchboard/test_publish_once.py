"""Exactly-once publish: a repeated ``idempotencyKey`` (same user, same channel, within
5 minutes) publishes nothing and acks the first ``seq`` with ``duplicate: true``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard.memory_store import MemoryStore
from switchboard.publisher import publish_key
from switchboard.storage import PUBLISH_KEY_SECONDS, FirstPublish
from tests.unit.switchboard.fakes import ENDPOINT, Clock, make_container, open_connection


def publish(handler: Any, connection_id: str, **fields: Any) -> dict[str, Any]:
    frame = {"action": "publish", "channel": "room:a", "data": "hi", "id": "p", **fields}
    reply = handler.handle(connection_id, json.dumps(frame))
    assert reply is not None
    return dict(reply)


def setup(clock: Clock | None = None) -> tuple[Any, MemoryStore, Any]:
    box, store, sender = make_container(clock=clock)
    open_connection(box, "A=", "alice", channels=["room:*"])
    open_connection(box, "B=", "bob", channels=["room:*"])
    handler = box.message_handler(ENDPOINT)
    handler.handle("B=", json.dumps({"action": "subscribe", "channel": "room:a", "id": "s"}))
    return handler, store, sender


def test_a_repeated_key_acks_the_first_seq_and_publishes_nothing() -> None:
    handler, store, sender = setup()
    first = publish(handler, "A=", idempotencyKey="k-1")
    again = publish(handler, "A=", idempotencyKey="k-1")
    assert first == {
        "type": "ack",
        "id": "p",
        "channel": "room:a",
        "seq": 1,
        "epoch": first["epoch"],
        "delivered": 1,
        "pruned": 0,
        "failed": 0,
    }
    assert again == {**first, "delivered": 0, "duplicate": True}
    assert [f["seq"] for f in sender.frames["B="] if f["type"] == "message"] == [1]
    assert sorted(store.history["room:a"]) == [1]
    # the next new key takes the next seq: the duplicate consumed none
    assert publish(handler, "A=", idempotencyKey="k-2")["seq"] == 2


def test_the_key_is_per_user_and_per_channel() -> None:
    handler, store, _sender = setup()
    assert publish(handler, "A=", idempotencyKey="k")["seq"] == 1
    assert "duplicate" not in publish(handler, "B=", idempotencyKey="k")
    assert "duplicate" not in publish(handler, "A=", idempotencyKey="k", channel="room:b")
    assert sorted(store.history["room:a"]) == [1, 2]


def test_a_key_older_than_five_minutes_publishes_again() -> None:
    clock = Clock(1_000_000.0)
    handler, _store, _sender = setup(clock)
    assert publish(handler, "A=", idempotencyKey="k")["seq"] == 1
    clock.now += PUBLISH_KEY_SECONDS
    assert publish(handler, "A=", idempotencyKey="k").get("duplicate") is True
    clock.now += 1
    reply = publish(handler, "A=", idempotencyKey="k")
    assert (reply["seq"], "duplicate" in reply) == (2, False)


def test_without_a_key_every_publish_is_new() -> None:
    handler, _store, _sender = setup()
    assert [publish(handler, "A=")["seq"] for _ in range(2)] == [1, 2]


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 65, id="too-long"),
        pytest.param("caf\u00e9", id="not-ascii"),
        pytest.param("a\nb", id="control"),
        pytest.param("a\x7f", id="delete"),
        pytest.param(7, id="number"),
        pytest.param(["k"], id="list"),
    ],
)
def test_a_malformed_key_is_bad_request_and_publishes_nothing(key: Any) -> None:
    handler, store, _sender = setup()
    reply = publish(handler, "A=", idempotencyKey=key)
    assert reply == {
        "type": "error",
        "id": "p",
        "code": "bad_request",
        "message": "'idempotencyKey' must be 1 to 64 printable ASCII characters",
    }
    assert "room:a" not in store.history


@pytest.mark.parametrize("key", ["k" * 64, " ", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"])
def test_every_printable_ascii_key_up_to_64_is_taken(key: str) -> None:
    handler, _store, _sender = setup()
    assert publish(handler, "A=", idempotencyKey=key)["seq"] == 1
    assert publish(handler, "A=", idempotencyKey=key)["duplicate"] is True


def test_stored_keys_cannot_collide_across_users() -> None:
    # user "a#1:b" with key "c" against user "a" with key "b#c"-like splits
    assert publish_key("room:a", "a#1:b", "c") != publish_key("room:a", "a", "1:b#c")
    assert publish_key("room:a", "ab", "c") != publish_key("room:a", "a", "b#c")


def test_a_live_key_wins_over_a_taken_seq_and_writes_nothing() -> None:
    store = MemoryStore()
    assert store.append_message_once("c", 1, "e", "{}", 100, key="k", now=10) is True
    assert store.append_message_once("c", 1, "e", "{}", 100, key="other", now=10) is False
    assert store.append_message_once("c", 2, "e", "{}", 100, key="k", now=10) == FirstPublish(
        1, "e"
    )
    assert sorted(store.history["c"]) == [1]
    assert "other" not in store.publish_keys
