"""A publish to 10 subscribers of which 3 are gone (410) and 2 throttled once (429)."""

from __future__ import annotations

import json
from typing import Any

from functions.default import app
from switchboard import services
from switchboard.lifecycle import Handshake
from switchboard.store import ConnectionModel, SubscriptionModel
from tests.conftest import CONNECTED_AT_MS, ManagementApiFake, load_event, make_token

PUBLISHER = "PUBLISHERxxxxxx="


def _connect(connection_id: str, user: str) -> None:
    result = services.connector().connect(
        Handshake(
            connection_id=connection_id,
            connected_at_ms=CONNECTED_AT_MS,
            headers={},
            query={"token": make_token(user)},
        )
    )
    assert result.status == 200


def _frame(connection_id: str, body: dict[str, Any], ctx: Any) -> None:
    event = load_event("default_publish")
    event["requestContext"]["connectionId"] = connection_id
    event["body"] = json.dumps(body)
    assert app.lambda_handler(event, ctx) == {"statusCode": 200}


def test_gone_are_pruned_throttled_retried_live_get_it_once(
    management: ManagementApiFake, lambda_context: Any
) -> None:
    subscribers = [f"SUBSCRIBER{n:04d}x=" for n in range(10)]
    _connect(PUBLISHER, "pub")
    for n, connection_id in enumerate(subscribers):
        _connect(connection_id, f"user{n}")
        _frame(connection_id, {"action": "subscribe", "channel": "room:all"}, lambda_context)
        # a gone subscriber also has another subscription, which pruning must remove
        _frame(connection_id, {"action": "subscribe", "channel": "room:other"}, lambda_context)
    gone, throttled = set(subscribers[:3]), set(subscribers[3:5])
    management.gone |= gone
    management.throttle_once |= throttled
    management.attempts.clear()

    _frame(
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
