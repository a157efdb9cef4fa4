"""Exactly-once publish on DynamoDB (moto) through the ``$default`` handler: the key item
and the message written in one transaction, a repeat answered from the cancelled
transaction, and the key item invisible to the channel's position and history."""

from __future__ import annotations

from typing import Any

import botocore.session

from switchboard import container
from switchboard.dynamodb_tables import PublishKeyModel
from switchboard.publisher import publish_key
from switchboard.storage import PUBLISH_KEY_SECONDS
from switchboard.store import HistoryModel
from tests.conftest import ManagementApiFake, send_frame
from tests.integration.test_publish_cost import BOB, ME, two

__all__ = ["two"]  # the fixture: alice publishes, bob listens on room:a


def keyed(key: str, data: Any = "hi", id: str = "p") -> dict[str, Any]:
    return {"action": "publish", "channel": "room:a", "data": data, "id": id, "idempotencyKey": key}


def test_a_repeat_acks_the_first_seq_and_writes_and_delivers_nothing(
    two: ManagementApiFake,
) -> None:
    send_frame(ME, keyed("k-1", "first"))
    send_frame(ME, keyed("k-1", "second", id="q"))
    first, again = two.replies(ME)
    epoch = first["epoch"]
    assert first == {
        "type": "ack",
        "id": "p",
        "channel": "room:a",
        "seq": 1,
        "epoch": epoch,
        "delivered": 1,
        "pruned": 0,
        "failed": 0,
    }
    assert again == {**first, "id": "q", "delivered": 0, "duplicate": True}
    assert [(m["seq"], m["data"]) for m in two.replies(BOB) if m["type"] == "message"] == [
        (1, "first")
    ]
    kept = [(int(i.seq), i.epoch) for i in HistoryModel.query("room:a", consistent_read=True)]
    assert kept == [(1, epoch)]
    marker = PublishKeyModel.get("#" + publish_key("room:a", "alice", "k-1"), 0)
    assert (int(marker.first_seq), marker.epoch) == (1, epoch)
    assert 0 < marker.ttl - container.current().clock() <= PUBLISH_KEY_SECONDS
    # the key item is not the channel's position: the next publish takes seq 2
    send_frame(ME, keyed("k-2"))
    assert two.replies(ME)[-1]["seq"] == 2
    send_frame(ME, {"action": "history", "channel": "room:a", "id": "h"})
    page = two.replies(ME)[-1]
    assert ([m["seq"] for m in page["messages"]], page["seq"]) == ([1, 2], 2)


def test_an_expired_key_item_not_yet_deleted_counts_as_absent(two: ManagementApiFake) -> None:
    send_frame(ME, keyed("k"))
    marker = PublishKeyModel.get("#" + publish_key("room:a", "alice", "k"), 0)
    marker.update(actions=[PublishKeyModel.ttl.set(1)])  # DynamoDB deletes expired items late
    send_frame(ME, keyed("k", id="q"))
    again = two.replies(ME)[-1]
    assert (again["seq"], "duplicate" in again) == (2, False)


def test_the_transaction_returns_the_key_item_on_a_failed_condition() -> None:
    # AWS's own service model: a transaction's Put can ask for ALL_OLD on a failed
    # condition, and each cancellation reason carries that Item (what the store reads)
    model = botocore.session.get_session().get_service_model("dynamodb")
    put = model.shape_for("Put")
    assert "ReturnValuesOnConditionCheckFailure" in put.members
    assert put.members["ReturnValuesOnConditionCheckFailure"].enum == ["ALL_OLD", "NONE"]
    reason = model.shape_for("CancellationReason")
    assert set(reason.members) >= {"Item", "Code"}
