"""Fan-out through SQS (moto): a large publish is queued in batches, the worker delivers.

The publish runs through the ``$default`` handler with ``FANOUT_QUEUE_URL`` set and a
low threshold; the worker function gets the queued messages as an SQS event, and answers
with Powertools' partial batch response.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions.fanout_worker import app as worker_app
from switchboard import queueing, services
from switchboard.queueing import FanoutBatch
from switchboard.store import SubscriptionModel
from tests.conftest import (
    MANAGEMENT_ENDPOINT,
    ManagementApiFake,
    connect,
    send_frame,
)

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fanout"
PUBLISHER = "PUBLISHERxxxxxx="
SUBSCRIBERS = [f"SUBSCRIBER{n:04d}x=" for n in range(12)]


@pytest.fixture
def queue_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(queueing, "follow_up_delay", lambda _generation: 0)
    monkeypatch.setenv("FANOUT_QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("FANOUT_QUEUE_THRESHOLD", "5")
    monkeypatch.setenv("FANOUT_BATCH_SIZE", "5")
    monkeypatch.setenv("FANOUT_MAX_ATTEMPTS", "1")
    return QUEUE_URL


@pytest.fixture
def gateway(queue_env: str, management: ManagementApiFake) -> ManagementApiFake:
    """The Management API fake, with the fan-out queue created in moto."""
    services.sqs().create_queue(QueueName="fanout")
    return management


def _drain() -> list[dict[str, Any]]:
    """Every message on the queue, as SQS records of a Lambda event."""
    records: list[dict[str, Any]] = []
    while True:
        got = services.sqs().receive_message(
            QueueUrl=QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        messages = got.get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fanout",
                    "awsRegion": "us-east-1",
                }
            )
            services.sqs().delete_message(
                QueueUrl=QUEUE_URL, ReceiptHandle=message["ReceiptHandle"]
            )


def _publish_to_subscribers(gateway: ManagementApiFake, ctx: Any) -> dict[str, Any]:
    connect(PUBLISHER, "pub")
    for n, connection_id in enumerate(SUBSCRIBERS):
        connect(connection_id, f"user{n}")
        send_frame(connection_id, {"action": "subscribe", "channel": "room:big"}, ctx)
    send_frame(
        PUBLISHER, {"action": "publish", "channel": "room:big", "data": "hi", "id": "p"}, ctx
    )
    return gateway.replies(PUBLISHER)[-1]


def _messages(gateway: ManagementApiFake, connection_id: str) -> list[Any]:
    return [f["data"] for f in gateway.replies(connection_id) if f["type"] == "message"]


def test_a_publish_above_the_threshold_is_queued_in_batches(
    gateway: ManagementApiFake, lambda_context: Any
) -> None:
    ack = _publish_to_subscribers(gateway, lambda_context)

    assert ack["type"] == "ack"
    assert (ack["delivered"], ack["queued"], ack["failed"]) == (0, 12, 0)
    batches = [FanoutBatch.decode(r["body"]) for r in _drain()]
    assert sorted(len(b.connection_ids) for b in batches) == [2, 5, 5]
    assert sorted(i for b in batches for i in b.connection_ids) == sorted(SUBSCRIBERS)
    assert {b.endpoint for b in batches} == {MANAGEMENT_ENDPOINT}
    assert all(_messages(gateway, cid) == [] for cid in SUBSCRIBERS)


def test_the_worker_delivers_prunes_and_requeues_the_throttled(
    gateway: ManagementApiFake, lambda_context: Any
) -> None:
    _publish_to_subscribers(gateway, lambda_context)
    gone, throttled = set(SUBSCRIBERS[:3]), set(SUBSCRIBERS[3:5])
    gateway.gone |= gone
    gateway.throttle_once |= throttled
    gateway.attempts.clear()

    answer = worker_app.lambda_handler({"Records": _drain()}, lambda_context)

    assert answer == {"batchItemFailures": []}
    follow_ups = [FanoutBatch.decode(r["body"]) for r in _drain()]
    assert [(sorted(b.connection_ids), b.generation) for b in follow_ups] == [
        (sorted(throttled), 1)
    ]
    assert worker_app.lambda_handler(
        {"Records": [_record(follow_ups[0].encode())]}, lambda_context
    ) == {"batchItemFailures": []}
    for connection_id in SUBSCRIBERS:
        expected = [] if connection_id in gone else ["hi"]
        assert _messages(gateway, connection_id) == expected
    remaining = {s.connection_id for s in SubscriptionModel.query("room:big")}
    assert remaining == set(SUBSCRIBERS) - gone


def _record(body: str, message_id: str = "m-1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fanout",
        "awsRegion": "us-east-1",
    }


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not a batch", id="not-json"),
        pytest.param('{"v":1}\n{}', id="no-ids"),
        pytest.param(
            FanoutBatch("https://evil.example/dev", ["a="], b"{}").encode(), id="foreign-endpoint"
        ),
        pytest.param(
            FanoutBatch(MANAGEMENT_ENDPOINT, ["t="], b"{}", queueing.MAX_GENERATIONS).encode(),
            id="still-throttled-at-the-last-generation",
        ),
    ],
)
def test_a_bad_or_exhausted_record_fails_alone(
    gateway: ManagementApiFake, lambda_context: Any, body: str
) -> None:
    gateway.throttle_once.add("t=")
    good = FanoutBatch(MANAGEMENT_ENDPOINT, ["ok="], b'{"type":"message"}').encode()
    answer = worker_app.lambda_handler(
        {"Records": [_record(body, "bad"), _record(good, "good")]}, lambda_context
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert gateway.replies("ok=") == [{"type": "message"}]


@pytest.fixture
def broken_queue(queue_env: str, management: ManagementApiFake) -> ManagementApiFake:
    """A queue URL that does not exist: every SendMessageBatch fails."""
    return management


def test_when_sqs_refuses_the_publisher_delivers_inline(
    broken_queue: ManagementApiFake, lambda_context: Any
) -> None:
    ack = _publish_to_subscribers(broken_queue, lambda_context)
    assert (ack["delivered"], ack["failed"]) == (12, 0)
    assert "queued" not in ack
    assert all(_messages(broken_queue, cid) == ["hi"] for cid in SUBSCRIBERS)
