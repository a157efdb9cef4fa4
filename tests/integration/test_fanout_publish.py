"""A publish to 10 subscribers of which 3 are gone (410) and 2 throttled once (429)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.store import ConnectionModel, SubscriptionModel
from tests.conftest import ManagementApiFake, connect, send_frame

PUBLISHER = "PUBLISHERxxxxxx="


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test here runs on both senders: the delivery engine and the boto3 client."""
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ["fast", "boto3"], indirect=True)


def test_gone_are_pruned_throttled_retried_live_get_it_once(
    management: ManagementApiFake, lambda_context: Any
) -> None:
    subscribers = [f"SUBSCRIBER{n:04d}x=" for n in range(10)]
    connect(PUBLISHER, "pub")
    for n, connection_id in enumerate(subscribers):
        connect(connection_id, f"user{n}")
        send_frame(connection_id, {"action": "subscribe", "channel": "room:all"}, lambda_context)
        # a gone subscriber also has another subscription, which pruning must remove
        send_frame(connection_id, {"action": "subscribe", "channel": "room:other"}, lambda_context)
    gone, throttled = set(subscribers[:3]), set(subscribers[3:5])
    management.gone |= gone
    management.throttle_once |= throttled
    management.attempts.clear()

    send_frame(
        PUBLISHER,
        {"action": "publish", "channel": "room:all", "data": "hi", "id": "p"},
        lambda_context,
    )

    ack = management.replies(PUBLISHER)[-1]
    assert ack == {
        "type": "ack",
        "id": "p",
        "channel": "room:all",
        "seq": 1,
        "epoch": ack["epoch"],
        "delivered": 7,
        "pruned": 3,
        "failed": 0,
    }
    for connection_id in subscribers:
        messages = [f for f in management.replies(connection_id) if f["type"] == "message"]
        if connection_id in gone:
            assert messages == []
        else:
            assert [(m["data"], m["seq"], m["from"]) for m in messages] == [("hi", 1, "pub")]
    for connection_id in throttled:
        assert management.attempts[connection_id] == 2
    remaining = {s.connection_id for s in SubscriptionModel.query("room:all")}
    assert remaining == set(subscribers) - gone
    assert {s.connection_id for s in SubscriptionModel.query("room:other")} == set(
        subscribers
    ) - gone
    for connection_id in gone:
        assert ConnectionModel.count(connection_id) == 0
    for connection_id in set(subscribers) - gone:
        assert ConnectionModel.count(connection_id) == 1
