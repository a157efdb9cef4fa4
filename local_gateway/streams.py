"""DynamoDB Streams, TTL and EventBridge on this machine, as AWS runs them for the functions.

- :class:`StreamEventSource`: a function's ``DynamoDB`` event (the template's), as Lambda's
  event source mapping: it reads the table's stream on the embedded DynamoDB (moto
  implements ``DescribeStream``, ``GetShardIterator`` and ``GetRecords``), keeps the
  records its ``FilterCriteria`` let through, and invokes the function with Lambda's
  DynamoDB event (:func:`lambda_record`, the shape of AWS's sample event: ``sam local
  generate-event dynamodb update``) in batches of ``BatchSize`` collected for up to
  ``MaximumBatchingWindowInSeconds``. A batch the function failed (it raised, or
  ``ReportBatchItemFailures`` named a record) is retried from the earliest failed record,
  up to ``MaximumRetryAttempts`` times; then it is logged as given up (on AWS: the
  on-failure destination). ``BisectBatchOnFunctionError`` is not emulated.
- :class:`TtlSweeper`: DynamoDB's TTL, which moto does not run: every few seconds the
  items whose TTL attribute is past are deleted (conditionally, as TTL does), and their
  stream records carry TTL's ``userIdentity`` (``Service``, ``dynamodb.amazonaws.com``).
  On AWS the deletion comes within days of the expiry; here within ``TTL_SWEEP_SECONDS``.
- :class:`LocalEventBridge`: ``PutEvents`` on 127.0.0.1 (the functions reach it through
  ``EVENTS_ENDPOINT``). Each entry becomes EventBridge's envelope (:func:`envelope`),
  is logged (its detail-type and detail: no token is in an event), and, with
  ``EVENTS_URL`` set, POSTed there as an API destination would, with the
  ``x-switchboard-secret`` header when ``EVENTS_SECRET`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local_gateway.eventlog import EventLog
from local_gateway.template import ACCOUNT_ID, REGION, Resolver, TemplateError, read_yaml
from local_gateway.template.intrinsics import referenced_name
from local_gateway.template.sam import merge_properties
from local_gateway.workers import FunctionPool, InvocationError

__all__ = [
    "LocalEventBridge",
    "StreamEventSource",
    "StreamSource",
    "TtlSweeper",
    "envelope",
    "lambda_record",
    "matches",
    "stream_sources",
]

TTL_PRINCIPAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
SECRET_HEADER = "x-switchboard-secret"  # noqa: S105 - a header name
MAX_ENTRIES = 10  # botocore's events model: PutEventsRequestEntryList max
MAX_REQUEST_BYTES = 256 * 1024
POLL_SECONDS = 0.2
POST_ATTEMPTS = 5


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - a local endpoint takes any key
    )


# ---------------------------------------------------------------- the template's sources


@dataclass(frozen=True)
class StreamSource:
    """A ``DynamoDB`` event of a function, with the settings that matter locally."""

    function: str
    table: str  # the table's logical id (its local name)
    batch_size: int = 100
    batching_window: float = 0.0
    maximum_retry_attempts: int = -1  # -1: until the record expires (AWS's default)
    report_batch_item_failures: bool = False
    filters: tuple[Mapping[str, Any], ...] = ()
    starting_position: str = "LATEST"


def stream_sources(template_path: Any) -> list[StreamSource]:
    """Every ``DynamoDB`` event of the template's functions."""
    template = read_yaml(template_path)
    resolver = Resolver(template, "switchboard-local")
    resources = template.get("Resources") or {}
    globals_function = (template.get("Globals") or {}).get("Function") or {}
    out = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        raw = merge_properties(globals_function, resource.get("Properties") or {})
        for event in (raw.get("Events") or {}).values():
            if (event or {}).get("Type") != "DynamoDB":
                continue
            raw_properties = event.get("Properties") or {}
            table = referenced_name(raw_properties.get("Stream"))
            if table is None or (resources.get(table) or {}).get("Type") != "AWS::DynamoDB::Table":
                raise TemplateError(
                    f"{name}: a DynamoDB event's Stream must be a table's StreamArn"
                )
            properties = resolver.resolve(raw_properties)
            filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
            out.append(
                StreamSource(
                    function=name,
                    table=table,
                    batch_size=int(properties.get("BatchSize", 100)),
                    batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                    maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    filters=tuple(json.loads(f["Pattern"]) for f in filters),
                    starting_position=str(properties.get("StartingPosition", "LATEST")),
                )
            )
    return out


# ---------------------------------------------------------------- records and filters


def lambda_record(
    record: Mapping[str, Any], stream_arn: str, *, by_ttl: bool = False
) -> dict[str, Any]:
    """A record as Lambda passes it, from one ``GetRecords`` returned (boto3's parse)."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime.datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    out: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if by_ttl:
        out["userIdentity"] = dict(TTL_PRINCIPAL)
    return out


def matches(pattern: Any, value: Any) -> bool:
    """Whether ``value`` matches an event filter ``pattern`` (EventBridge pattern syntax:
    a map of keys whose leaves are lists of allowed values; ``{"exists": false}`` too)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, sub in pattern.items():
            if isinstance(sub, list) and {"exists": False} in sub and key not in value:
                continue
            if key not in value or not matches(sub, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        return any(
            (isinstance(option, dict) and option.get("exists") is True) or option == value
            for option in pattern
        )
    return bool(pattern == value)


def _key(keys: Mapping[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True)


# ---------------------------------------------------------------- TTL


class TtlSweeper:
    """DynamoDB's TTL: deletes expired items every ``interval`` seconds (development only:
    a Scan per table, which is how this emulation finds them, not a request path)."""

    def __init__(
        self,
        endpoint: str,
        tables: Mapping[str, tuple[str, Sequence[str]]],  # name -> (ttl attribute, key names)
        log: EventLog,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = _client("dynamodb", endpoint)
        self.tables = tables
        self.log = log
        self.interval = interval
        self.clock = clock
        self.deleted: dict[str, set[str]] = {name: set() for name in tables}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def sweep(self) -> int:
        """Delete every item whose TTL is past; how many were deleted."""
        now = int(self.clock())
        count = 0
        for table, (attribute, key_names) in self.tables.items():
            pages = self.client.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="#t < :now",
                ExpressionAttributeNames={"#t": attribute},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            for page in pages:
                for item in page.get("Items", []):
                    keys = {name: item[name] for name in key_names}
                    with self._lock:
                        self.deleted[table].add(_key(keys))
                    try:
                        self.client.delete_item(
                            TableName=table,
                            Key=keys,
                            ConditionExpression="#t < :now",
                            ExpressionAttributeNames={"#t": attribute},
                            ExpressionAttributeValues={":now": {"N": str(now)}},
                        )
                        count += 1
                    except self.client.exceptions.ConditionalCheckFailedException:
                        with self._lock:
                            self.deleted[table].discard(_key(keys))
        if count:
            self.log.event("TTL", "sweep", f"{count} expired item(s) deleted", "ok")
        return count

    def took(self, table: str, keys: Mapping[str, Any]) -> bool:
        """Whether TTL deleted the item with ``keys`` (asked once per REMOVE record)."""
        with self._lock:
            found = _key(keys) in self.deleted.get(table, set())
            self.deleted.get(table, set()).discard(_key(keys))
        return found

    def start(self) -> None:
        """Sweep every ``interval`` seconds."""
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await asyncio.to_thread(self.sweep)
            except Exception as exc:  # moto stopping: try again later
                self.log.event("TTL", "sweep", f"error {type(exc).__name__}", "error")

    async def close(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# ---------------------------------------------------------------- the event source


class StreamEventSource:
    """One ``DynamoDB`` event source mapping: reads a table's stream, invokes a function."""

    def __init__(
        self,
        source: StreamSource,
        *,
        endpoint: str,
        pool: Callable[[], FunctionPool],
        log: EventLog,
        ttl: TtlSweeper | None = None,
    ) -> None:
        self.source = source
        self.pool = pool
        self.log = log
        self.ttl = ttl
        self.dynamodb = _client("dynamodb", endpoint)
        self.streams = _client("dynamodbstreams", endpoint)
        self.stream_arn = ""
        self._iterators: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    def open(self, attempts: int = 5) -> None:
        """Find the table's stream and an iterator per shard (before the first write);
        retried a few times (injected DynamoDB faults apply to these calls too)."""
        for attempt in range(attempts):
            try:
                self._open()
                return
            except ClientError:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.1)

    def _open(self) -> None:
        table = self.dynamodb.describe_table(TableName=self.source.table)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn:
            raise TemplateError(f"{self.source.table} has no stream (StreamSpecification)")
        self.stream_arn = arn
        self._refresh_shards()

    def _refresh_shards(self) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in shards.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id not in self._iterators:
                self._iterators[shard_id] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="TRIM_HORIZON",
                )["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, as Lambda passes them, filtered."""
        out: list[dict[str, Any]] = []
        for shard_id, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            response = self.streams.get_records(ShardIterator=iterator)
            self._iterators[shard_id] = response.get("NextShardIterator")
            for record in response.get("Records", []):
                by_ttl = (
                    record["eventName"] == "REMOVE"
                    and self.ttl is not None
                    and self.ttl.took(self.source.table, record["dynamodb"]["Keys"])
                )
                converted = lambda_record(record, self.stream_arn, by_ttl=by_ttl)
                if not self.source.filters or any(
                    matches(pattern, converted) for pattern in self.source.filters
                ):
                    out.append(converted)
        return out

    def start(self) -> None:
        """Start reading."""
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop reading (an invocation under way is stopped with the workers)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        waiting: list[dict[str, Any]] = []
        first_at = 0.0
        while True:
            try:
                fresh = await asyncio.to_thread(self.read)
            except Exception as exc:  # moto stopping, a transient error: try again shortly
                self.log.event("STREAM", self.source.table, "GetRecords", f"error {exc}")
                await asyncio.sleep(1)
                continue
            if fresh and not waiting:
                first_at = time.monotonic()
            waiting += fresh
            window_over = time.monotonic() - first_at >= self.source.batching_window
            if waiting and (len(waiting) >= self.source.batch_size or window_over):
                batch, waiting = (
                    waiting[: self.source.batch_size],
                    waiting[self.source.batch_size :],
                )
                await self._deliver(batch)
                first_at = time.monotonic()
                continue
            await asyncio.sleep(POLL_SECONDS)

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        attempts = 0
        while batch:
            started = time.monotonic()
            subject = f"-> {self.source.function} {len(batch)} record(s)"
            failed_from = await self._invoke(batch)
            millis = (time.monotonic() - started) * 1000
            if failed_from is None:
                self.log.event("STREAM", self.source.table, subject, "ok", millis)
                return
            batch = batch[failed_from:]
            attempts += 1
            limit = self.source.maximum_retry_attempts
            if 0 <= limit < attempts:
                self.log.event(
                    "STREAM", self.source.table, subject, f"given up after {attempts}", millis
                )
                return
            self.log.event("STREAM", self.source.table, subject, "retrying", millis)
            await asyncio.sleep(min(0.1 * 2**attempts, 2.0))

    async def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """Invoke once; ``None`` if every record succeeded, else the index to retry from."""
        try:
            result = await self.pool().invoke({"Records": batch})
        except InvocationError:
            return 0
        if not self.source.report_batch_item_failures or not isinstance(result, dict):
            return None
        failures = result.get("batchItemFailures") or []
        numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        indexes = []
        for failure in failures if isinstance(failures, list) else [None]:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if identifier not in numbers:
                return 0  # as Lambda: an invalid identifier fails the whole batch
            indexes.append(numbers.index(identifier))
        return min(indexes) if indexes else None


# ---------------------------------------------------------------- EventBridge


def _iso(value: Any) -> str:
    when = (
        datetime.datetime.fromtimestamp(float(value), datetime.UTC)
        if value is not None
        else datetime.datetime.now(datetime.UTC)
    )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(entry: Mapping[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """EventBridge's event for one PutEvents entry (what rules and API destinations get)."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT_ID,
        "time": _iso(entry.get("Time")),
        "region": REGION,
        "resources": list(entry.get("Resources") or []),
        "detail": json.loads(entry["Detail"]),
    }


def _entry_error(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "an entry is not an object"
    for key in ("Source", "DetailType", "Detail"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            return f"{key} is required"
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return "Detail is not valid JSON"
    if not isinstance(detail, dict):
        return "Detail is not a JSON object"
    return None


class LocalEventBridge:
    """``PutEvents`` on 127.0.0.1; each event logged, and POSTed to ``url`` when set."""

    def __init__(self, log: EventLog, *, url: str | None = None, secret: str | None = None):
        self.log = log
        self.url = url
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = bridge.handle(
                    self.headers.get("X-Amz-Target", ""), self.rfile.read(length)
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._post_loop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def handle(self, target: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one call as EventBridge does (``PutEvents`` only)."""
        if target != "AWSEvents.PutEvents":
            return 400, {"__type": "UnknownOperationException", "message": target}
        try:
            request = json.loads(raw)
            entries = request["Entries"]
            count = len(entries) if isinstance(entries, list) else 0
        except (ValueError, KeyError, TypeError):
            count = 0
        if not 1 <= count <= MAX_ENTRIES:
            return 400, {"__type": "ValidationException", "message": "1 to 10 Entries"}
        if len(raw) > MAX_REQUEST_BYTES * 2:
            return 400, {"__type": "ValidationException", "message": "over 256 KB"}
        results = []
        failed = 0
        for entry in entries:
            error = _entry_error(entry)
            if error is not None:
                failed += 1
                results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": error})
                continue
            event = envelope(entry)
            self.events.append(event)
            detail = event["detail"]
            subject = str(detail.get("channel") or detail.get("connectionId") or "")[:16]
            shown = json.dumps(detail, separators=(",", ":"))
            self.log.event("EVENT", subject, f"{event['detail-type']} {shown}", "put")
            if self.url:
                self._outbox.put(event)
            results.append({"EventId": event["id"]})
        return 200, {"FailedEntryCount": failed, "Entries": results}

    def _post_loop(self) -> None:
        while True:
            event = self._outbox.get()
            if event is None:
                return
            self._post(event)

    def _post(self, event: dict[str, Any]) -> None:
        assert self.url is not None
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        data = json.dumps(event).encode()
        status: int | str = "error"
        for attempt in range(POST_ATTEMPTS):  # as an API destination: 429 and 5xx retried
            request = urllib.request.Request(  # noqa: S310 - EVENTS_URL, set by the developer
                self.url, data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    status = response.status
                    break
            except urllib.error.HTTPError as exc:
                status = exc.code
                if exc.code != 429 and exc.code < 500:
                    break
            except OSError as exc:
                status = type(exc).__name__
            time.sleep(min(0.2 * 2**attempt, 2.0))
        self.log.event("WEBHOOK", event["detail-type"], f"POST {self.url}", status)

    def close(self) -> None:
        """Stop serving and posting."""
        self._outbox.put(None)
        self._server.shutdown()
        self._server.server_close()


def from_environment(log: EventLog) -> LocalEventBridge:
    """The local EventBridge, posting to ``EVENTS_URL`` with ``EVENTS_SECRET`` when set."""
    return LocalEventBridge(
        log,
        url=os.environ.get("EVENTS_URL") or None,
        secret=os.environ.get("EVENTS_SECRET") or None,
    )


def ttl_tables(tables: Iterable[Any]) -> dict[str, tuple[str, list[str]]]:
    """Table name -> (TTL attribute, key attribute names), for the tables with a TTL."""
    return {
        table.name: (
            table.ttl_attribute,
            [k["AttributeName"] for k in table.create_table["KeySchema"]],
        )
        for table in tables
        if table.ttl_attribute
    }


class LocalEvents:
    """Everything above, for one application: the TTL sweeper, the stream event sources
    and the local EventBridge (``environment`` points the functions at it)."""

    def __init__(
        self,
        app: Any,
        dynamodb_endpoint: str,
        pool: Callable[[str], FunctionPool],
        log: EventLog,
    ) -> None:
        interval = float(os.environ.get("TTL_SWEEP_SECONDS") or 5)
        self.ttl = TtlSweeper(dynamodb_endpoint, ttl_tables(app.tables), log, interval=interval)
        sources = stream_sources(app.template_path)
        self.bridge = from_environment(log) if sources else None
        self.sources = [
            StreamEventSource(
                source,
                endpoint=dynamodb_endpoint,
                pool=lambda name=source.function: pool(name),
                log=log,
                ttl=self.ttl,
            )
            for source in sources
        ]
        for source in self.sources:
            source.open()

    @property
    def environment(self) -> dict[str, str]:
        """What every function's environment gets: ``EVENTS_ENDPOINT``."""
        return {"EVENTS_ENDPOINT": self.bridge.endpoint} if self.bridge else {}

    def banner(self) -> list[str]:
        """The banner's lines about events."""
        lines = [f"  TTL          expired items deleted every {self.ttl.interval:g}s"]
        for source in self.sources:
            lines.append(
                f"  Streams      {source.source.table} -> {source.source.function} "
                f"[batch {source.source.batch_size}]"
            )
        if self.bridge is not None:
            target = self.bridge.url or "(EVENTS_URL unset: logged only)"
            lines.append(f"  EventBridge  {self.bridge.endpoint}, events POSTed to {target}")
        return lines

    def start(self) -> None:
        """Start sweeping and reading."""
        self.ttl.start()
        for source in self.sources:
            source.start()

    async def close(self) -> None:
        """Stop everything."""
        await self.ttl.close()
        await asyncio.gather(*(source.close() for source in self.sources))
        if self.bridge is not None:
            self.bridge.close()
