"""B4: every billed call of each operation, counted on the real handlers.

DynamoDB calls (with the write and read request units each costs, from the sizes of the
items it touched and AWS's documented rules), API Gateway messages in and out, Lambda
invocations and SQS requests, for every action of the protocol, the server-side publish,
and a publish fanned out through SQS by the fan-out worker. Runs on moto with the
Management API fake of the tests and prints one JSON line (``python -m bench.dynamodb_calls``).

Units, per AWS's "Item sizes and formats" and on-demand pricing pages: an item's size is the
sum of its attribute names and values (numbers: 1 byte per two significant digits plus 1;
lists and maps: 3 bytes plus 1 per element); a write costs 1 WRU per KB of the larger of the
item before and after it (a delete: of the item removed; at least 1, a failed conditional
write too), twice that inside a transaction; a read costs 1 RRU per 4 KB read (a query: of
all the items it returned together, at least one unit), half when eventually consistent;
a transaction's ConditionCheck is counted as a transactional read (2 RRU per 4 KB).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from moto import mock_aws

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fanout"
SQS_CHUNK = 64 * 1024  # SQS bills each 64 KB of a request's payload as one request
WORKER_BATCH = 10  # the fan-out worker's event source BatchSize (template.yaml)


# ------------------------------------------------------------------ item sizes and units


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    if "e" in text.lower():  # DynamoDB numbers never come back in exponent form
        digits = format(Decimal(text), "f").replace(".", "").replace("-", "").strip("0")
    return math.ceil(max(len(digits), 1) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB JSON, name excluded."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    """The size of an item in DynamoDB JSON (0 when absent)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(*sizes: int) -> int:
    """Write request units of a write touching items of these sizes (the larger counts)."""
    return max(1, math.ceil(max(sizes, default=0) / 1024))


def read_units(size: int, *, consistent: bool) -> float:
    """Read request units of a read of ``size`` bytes."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# ------------------------------------------------------------------ the meter


@dataclass
class Call:
    """One billed DynamoDB call."""

    operation: str
    table: str
    wru: float = 0.0
    rru: float = 0.0
    sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.operation,
            "table": self.table,
            "wru": self.wru,
            "rru": self.rru,
            "bytes": self.sizes,
        }


class DynamoMeter:
    """Wraps pynamodb's API call: records each call and the units it cost."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # a boto3 client on the same moto backend: its reads are not counted
        self.calls: list[Call] = []
        self._keys: dict[str, list[str]] = {}

    def _key_names(self, table: str) -> list[str]:
        if table not in self._keys:
            schema = self.raw.describe_table(TableName=table)["Table"]["KeySchema"]
            self._keys[table] = [k["AttributeName"] for k in schema]
        return self._keys[table]

    def _get(self, table: str, item_or_key: dict[str, Any]) -> dict[str, Any] | None:
        key = {name: item_or_key[name] for name in self._key_names(table)}
        item: dict[str, Any] | None = self.raw.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _write(self, table: str, key: dict[str, Any], new: dict[str, Any] | None) -> Any:
        """Before-state and a function giving the call's units once it ran."""
        old = self._get(table, key)

        def units(failed: bool) -> tuple[int, list[int]]:
            after = old if failed else (new if new is not None else self._get(table, key))
            sizes = [item_size(old), item_size(after)]
            return write_units(*sizes), sizes

        return units

    def call(
        self, original: Callable[..., Any], conn: Any, name: str, kwargs: dict[str, Any]
    ) -> Any:
        table = kwargs.get("TableName", "")
        pending: list[tuple[Call, Any, int]] = []
        if name in ("PutItem", "UpdateItem", "DeleteItem"):
            key = kwargs.get("Item") or kwargs["Key"]
            new = kwargs.get("Item") if name == "PutItem" else None
            if name == "DeleteItem":
                new = {}
            pending.append((Call(name, table), self._write(table, key, new), 1))
        elif name == "BatchWriteItem":
            for batch_table, requests in kwargs["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        units = self._write(batch_table, item, item)
                    else:
                        units = self._write(batch_table, request["DeleteRequest"]["Key"], {})
                    pending.append((Call(name, batch_table), units, 1))
        elif name == "TransactWriteItems":
            for entry in kwargs["TransactItems"]:
                ((kind, body),) = entry.items()
                key = body.get("Item") or body["Key"]
                if kind == "ConditionCheck":
                    size = item_size(self._get(body["TableName"], key))
                    check = Call(name, body["TableName"], rru=2 * read_units(size, consistent=True))
                    pending.append((check, None, 0))
                else:
                    new = body.get("Item") if kind == "Put" else ({} if kind == "Delete" else None)
                    pending.append(
                        (Call(name, body["TableName"]), self._write(body["TableName"], key, new), 2)
                    )
        failed = False
        try:
            response = original(conn, name, kwargs)
        except Exception:
            failed = True
            raise
        finally:
            if pending:
                for call, units, factor in pending:
                    if units is not None:
                        wru, sizes = units(failed)
                        call.wru, call.sizes = float(wru * factor), sizes
                    self.calls.append(call)
        if name == "GetItem":
            size = item_size(response.get("Item"))
            consistent = bool(kwargs.get("ConsistentRead"))
            self.calls.append(
                Call(name, table, rru=read_units(size, consistent=consistent), sizes=[size])
            )
        elif name == "Query":
            size = sum(item_size(i) for i in response.get("Items", []))
            consistent = bool(kwargs.get("ConsistentRead"))
            self.calls.append(
                Call(name, table, rru=read_units(size, consistent=consistent), sizes=[size])
            )
        elif not pending:
            self.calls.append(Call(name, table))
        return response


@contextmanager
def metering(meter: DynamoMeter) -> Iterator[DynamoMeter]:
    """Route every pynamodb API call through ``meter`` while the block runs."""
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def counting(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        return meter.call(original, self, operation_name, operation_kwargs)

    Connection._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]


@dataclass
class Counted:
    """What one operation cost."""

    dynamodb: list[Call]
    messages_in: int
    messages_out: int
    invocations: int
    sqs_requests: int
    worker_invocations: int = 0
    http_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dynamodb": [c.as_dict() for c in self.dynamodb],
            "calls": len(self.dynamodb),
            "wru": sum(c.wru for c in self.dynamodb),
            "rru": sum(c.rru for c in self.dynamodb),
            "apigw_messages_in": self.messages_in,
            "apigw_messages_out": self.messages_out,
            "lambda_invocations": self.invocations,
            "worker_invocations": self.worker_invocations,
            "sqs_requests": self.sqs_requests,
            "http_requests": self.http_requests,
        }


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
