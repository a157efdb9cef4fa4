"""B4: every billed call of each operation, counted on the real handlers.

DynamoDB calls (with the write and read request units each costs, from the sizes of the
items it touched and AWS's documented rules), API Gateway messages in and out, Lambda
invocations and SQS requests, for every action of the protocol, the server-side publish,
and a publish fanned out through SQS by the fan-out worker. Runs on moto with the
Management API fake of the tests and prints one JSON line (``python -m bench.dynamodb_calls``).

The units are :mod:`bench.billing_units`' (AWS's rules); the meter is :mod:`bench.call_meter`.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto import mock_aws

from bench.billing_units import item_size, read_units, value_size, write_units
from bench.call_meter import Counted, DynamoMeter, metering

__all__ = ["count", "item_size", "read_units", "value_size", "write_units"]

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fanout"
SQS_CHUNK = 64 * 1024  # SQS bills each 64 KB of a request's payload as one request
WORKER_BATCH = 10  # the fan-out worker's event source BatchSize (template.yaml)


# ------------------------------------------------------------------ the operations


def count(subscribers: int, queued_subscribers: int) -> dict[str, Any]:
    """Every operation's billed calls, in order."""
    import boto3

    from functions.connect import app as connect_app
    from functions.default import app as default_app
    from functions.disconnect import app as disconnect_app
    from functions.fanout_worker import app as worker_app
    from functions.publish import app as publish_app
    from switchboard import services
    from switchboard.store import create_tables
    from tests.conftest import (
        CONTEXT,
        MANAGEMENT_ENDPOINT,
        ManagementApiFake,
        load_event,
        make_token,
        subscribed,
    )

    services.reset()
    operations: dict[str, Any] = {}
    with mock_aws():
        services.store()
        create_tables()
        raw = boto3.client("dynamodb", region_name="us-east-1")
        raw.create_table(
            TableName=services.settings().idempotency_table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        fake = ManagementApiFake()
        fake.attach(services.sender(MANAGEMENT_ENDPOINT)._client)
        meter = DynamoMeter(raw)
        sqs_requests: list[int] = []

        subscribed(subscribers, "room:big", "presence-room")

        def posts() -> int:
            return sum(len(f) for f in fake.frames.values()) + len(fake.deleted)

        @contextmanager
        def measure(name: str, messages_in: int) -> Iterator[Counted]:
            meter.calls.clear()
            sqs_requests.clear()
            before = posts()
            counted = Counted([], messages_in, 0, 1, 0)
            yield counted
            counted.dynamodb = list(meter.calls)
            counted.messages_out = posts() - before
            counted.sqs_requests += sum(sqs_requests)
            operations[name] = counted.as_dict()

        def frame(body: dict[str, Any], cid: str = "Fz1xWfAGIAMCKsA=") -> None:
            event = load_event("default_ping")
            event["requestContext"]["connectionId"] = cid
            event["body"] = json.dumps(body)
            default_app.lambda_handler(event, CONTEXT)

        with metering(meter):
            event = load_event("connect")
            event["queryStringParameters"] = {"token": make_token("alice")}
            with measure("connect", 0):
                connect_app.lambda_handler(event, CONTEXT)
            jti = load_event("connect")
            jti["requestContext"]["connectionId"] = "JTIxxxxxxxxxxx="
            jti["queryStringParameters"] = {"token": make_token("alice", jti="once")}
            with measure("connect, single-use token", 0):
                connect_app.lambda_handler(jti, CONTEXT)
            claimed = load_event("connect")
            claimed["requestContext"]["connectionId"] = "CLAIMxxxxxxxxx="
            claimed["queryStringParameters"] = {
                "token": make_token("carol", subscribe=["user:carol", "notifications:carol"])
            }
            with measure("connect with subscribe claim (2)", 0):
                connect_app.lambda_handler(claimed, CONTEXT)
            with measure("subscribe", 1):
                frame({"action": "subscribe", "channel": "room:big", "id": "s"})
            with measure("subscribe to a presence channel", 1):
                frame({"action": "subscribe", "channel": "presence-room", "id": "s"})
            name = f"publish to {subscribers + 1} subscribers"
            with measure(name, 1):
                frame({"action": "publish", "channel": "room:big", "data": {"text": "hi"}})
            with measure(f"{name}, ack: false", 1):
                frame(
                    {
                        "action": "publish",
                        "channel": "room:big",
                        "data": {"text": "hi"},
                        "ack": False,
                    }
                )
            for n in range(3):
                frame({"action": "publish", "channel": "room:big", "data": n, "ack": False})
            with measure("subscribe with since (3 missed)", 1):
                frame(
                    {"action": "subscribe", "channel": "room:big", "since": 2, "id": "r"},
                    "JTIxxxxxxxxxxx=",
                )
            with measure("subscribe with rewind (3)", 1):
                frame(
                    {"action": "subscribe", "channel": "room:big", "rewind": 3, "id": "w"},
                    "JTIxxxxxxxxxxx=",
                )
            with measure("history (50)", 1):
                frame({"action": "history", "channel": "room:big", "id": "h"})
            with measure("presence", 1):
                frame({"action": "presence", "channel": "presence-room", "id": "p"})
            with measure("ping", 1):
                frame({"action": "ping", "id": "k"})
            keyed = {"action": "publish", "channel": "room:big", "data": {"text": "hi"}}
            keyed.update(id="i", idempotencyKey="0f8e4a52-7f43-4d2b-9c1e-5a6b7c8d9e0f")
            with measure("publish with idempotencyKey", 1):
                frame(keyed)
            with measure("publish, duplicate key", 1):
                frame(keyed)
            with measure("unsubscribe", 1):
                frame({"action": "unsubscribe", "channel": "room:big", "id": "u"})
            server = load_event("publish")
            server["headers"].pop("idempotency-key", None)
            server["headers"]["authorization"] = "Bearer " + make_token(
                "backend", ttl=3600, scope="publish"
            )
            server["body"] = json.dumps({"channel": "room:big", "data": {"text": "hi"}})
            with measure(f"POST /publish to {subscribers} subscribers", 0) as counted:
                publish_app.lambda_handler(server, CONTEXT)
                counted.http_requests = 1
            narrower = make_token("alice", channels=["presence-*"])
            with measure("auth, ending 1 subscription", 1):
                frame({"action": "auth", "token": narrower, "id": "a"}, "JTIxxxxxxxxxxx=")
            with measure("disconnect", 0):
                disconnect_app.lambda_handler(load_event("disconnect"), CONTEXT)
        operations.update(_queued(queued_subscribers, meter, frame, worker_app, sqs_requests))
    return {
        "subscribers": subscribers + 1,
        "queued_subscribers": queued_subscribers,
        "operations": operations,
    }


def _queued(
    n: int,
    meter: DynamoMeter,
    frame: Callable[..., None],
    worker_app: Any,
    sqs_requests: list[int],
) -> dict[str, Any]:
    """A publish to ``n`` subscribers above the threshold: SQS batches and the worker."""
    import os

    from switchboard import services
    from tests.conftest import CONTEXT, MANAGEMENT_ENDPOINT, ManagementApiFake, subscribed

    os.environ.update(
        FANOUT_QUEUE_URL=QUEUE_URL, FANOUT_QUEUE_THRESHOLD="100", FANOUT_BATCH_SIZE="100"
    )
    services.reset()
    services.sqs().create_queue(QueueName="fanout")
    fake = ManagementApiFake()
    fake.attach(services.sender(MANAGEMENT_ENDPOINT)._client)

    def sqs_counter(request: Any, **_: Any) -> None:
        body = request.body or b""
        size = len(body.encode() if isinstance(body, str) else body)
        sqs_requests.append(max(1, math.ceil(size / SQS_CHUNK)))

    services.sqs().meta.events.register("before-send.sqs", sqs_counter)
    (publisher,) = subscribed(1, prefix="QPUB")
    subscribed(n, "room:huge", prefix="Q")
    with metering(meter):
        meter.calls.clear()
        sqs_requests.clear()
        frame(
            {"action": "publish", "channel": "room:huge", "data": {"text": "hi"}, "id": "q"},
            publisher,
        )
        publish_calls = list(meter.calls)
        enqueue = sum(sqs_requests)
        messages = services.sqs().receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
        meter.calls.clear()
        invocations = 0
        for start in range(0, len(messages["Messages"]), WORKER_BATCH):
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fanout",
                    "awsRegion": "us-east-1",
                }
                for m in messages["Messages"][start : start + WORKER_BATCH]
            ]
            worker_app.lambda_handler({"Records": records}, CONTEXT)
            invocations += 1
    posted = sum(len(f) for f in fake.frames.values())
    counted = Counted(publish_calls + list(meter.calls), 1, posted, 1 + invocations, 0)
    counted.worker_invocations = invocations
    # each worker invocation: one receive and one batch delete by Lambda's SQS poller
    counted.sqs_requests = enqueue + 2 * invocations
    for key in ("FANOUT_QUEUE_URL", "FANOUT_QUEUE_THRESHOLD", "FANOUT_BATCH_SIZE"):
        os.environ.pop(key, None)
    return {f"publish to {n} subscribers via SQS": counted.as_dict()}


def main() -> None:
    """Print the counts as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--queued-subscribers", type=int, default=250)
    args = parser.parse_args()
    print(json.dumps(count(args.subscribers, args.queued_subscribers)))


if __name__ == "__main__":
    main()
