"""DynamoDB Streams on this machine, as Lambda's event source mappings read them.

:class:`StreamEventSource` is a function's ``DynamoDB`` event (the template's, read by
:func:`~local_gateway.template.load_application` into a
:class:`~local_gateway.template.DynamoDbEventSource`): it reads the table's stream on the
embedded DynamoDB (moto implements ``DescribeStream``, ``GetShardIterator`` and
``GetRecords``), keeps the records its ``FilterCriteria`` let through (:func:`matches`), and
invokes the function with Lambda's DynamoDB event (:func:`lambda_record`, the shape of
AWS's sample event: ``sam local generate-event dynamodb update``) in batches of
``BatchSize`` collected for up to ``MaximumBatchingWindowInSeconds``. A batch the function
failed (it raised, or ``ReportBatchItemFailures`` named a record) is retried from the
earliest failed record, up to ``MaximumRetryAttempts`` times; then it is logged as given
up (on AWS: the on-failure destination). ``BisectBatchOnFunctionError`` is not emulated.

:class:`LocalEvents` wires one application's backend events: the TTL sweep
(:mod:`local_gateway.ttl`), a :class:`StreamEventSource` per ``DynamoDB`` event, and the
local EventBridge (:mod:`local_gateway.eventbridge`) the functions are pointed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from local_gateway.eventbridge import LocalEventBridge, from_environment
from local_gateway.eventlog import EventLog
from local_gateway.local_aws import REGION, client
from local_gateway.template import Application, DynamoDbEventSource, TemplateError
from local_gateway.ttl import TTL_PRINCIPAL, TtlSweeper, ttl_tables
from local_gateway.workers import FunctionPool, InvocationError

__all__ = ["LocalEvents", "StreamEventSource", "lambda_record", "matches"]

POLL_SECONDS = 0.2


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


class StreamEventSource:
    """One ``DynamoDB`` event source mapping: reads a table's stream, invokes a function."""

    def __init__(
        self,
        source: DynamoDbEventSource,
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
        self.dynamodb = client("dynamodb", endpoint)
        self.streams = client("dynamodbstreams", endpoint)
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


class LocalEvents:
    """One application's backend events: the TTL sweeper, the stream event sources and
    the local EventBridge (``environment`` points the functions at it)."""

    def __init__(
        self,
        app: Application,
        dynamodb_endpoint: str,
        pool: Callable[[str], FunctionPool],
        log: EventLog,
    ) -> None:
        interval = float(os.environ.get("TTL_SWEEP_SECONDS") or 5)
        self.ttl = TtlSweeper(dynamodb_endpoint, ttl_tables(app.tables), log, interval=interval)
        sources = app.stream_events
        self.bridge: LocalEventBridge | None = from_environment(log) if sources else None
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
