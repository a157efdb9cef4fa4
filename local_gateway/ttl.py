"""DynamoDB's TTL on this machine, which moto does not run.

:class:`TtlSweeper`: every few seconds the items whose TTL attribute is past are deleted
(conditionally, as TTL does), and it remembers which, so that their stream records carry
TTL's ``userIdentity`` (:data:`TTL_PRINCIPAL`: ``Service``, ``dynamodb.amazonaws.com``;
:mod:`local_gateway.streams` asks :meth:`TtlSweeper.took`). On AWS the deletion comes
within days of the expiry; here within ``TTL_SWEEP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from local_gateway.eventlog import EventLog
from local_gateway.local_aws import client

__all__ = ["TTL_PRINCIPAL", "TtlSweeper", "ttl_tables"]

TTL_PRINCIPAL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _key(keys: Mapping[str, Any]) -> str:
    return json.dumps(keys, sort_keys=True)


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
        self.client = client("dynamodb", endpoint)
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
