"""The EventBridge side of backend events: ``PutEvents`` in batches, retrying refusals.

AWS's limits (botocore's ``events`` service model: ``PutEventsRequestEntryList`` holds at
most 10 entries; AWS's "Calculating PutEvents event entry size": a request is at most
256 KB, an entry's size being its ``Time`` (14 bytes), ``Source``, ``DetailType``,
``Detail`` and each of ``Resources`` in UTF-8): a batch never holds more. An entry that
comes back with an ``ErrorCode`` (``FailedEntryCount`` > 0: throttling, an internal
failure) is sent again, up to ``attempts`` times with a short backoff; a call that
raises is retried the same way. What is still refused is reported to the caller, which
hands its record back to Lambda.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from switchboard.events import BackendEvent, entry

logger = logging.getLogger(__name__)

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
TIME_BYTES = 14


def entry_size(item: dict[str, Any]) -> int:
    """An entry's size as AWS counts it against the 256 KB of a request."""
    size = TIME_BYTES if item.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        if item.get(key) is not None:
            size += len(str(item[key]).encode())
    size += sum(len(resource.encode()) for resource in item.get("Resources") or [])
    return size


def batches(entries: Sequence[dict[str, Any]]) -> list[list[int]]:
    """Indexes of ``entries`` grouped into requests of at most 10 entries and 256 KB."""
    out: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, item in enumerate(entries):
        item_size = entry_size(item)
        if current and (len(current) == MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(index)
        size += item_size
    if current:
        out.append(current)
    return out


class EventBridgeBus:
    """Puts backend events on one EventBridge bus through ``client`` (boto3 ``events``)."""

    def __init__(
        self,
        client: Any,
        bus_name: str,
        *,
        attempts: int = 4,
        backoff: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.bus_name = bus_name
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep

    def put(self, events: Sequence[BackendEvent]) -> list[bool]:
        """Put every event; ``True`` for each EventBridge accepted."""
        entries = [entry(event, self.bus_name) for event in events]
        accepted = [False] * len(entries)
        waiting = list(range(len(entries)))
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            refused: list[int] = []
            for group in batches([entries[i] for i in waiting]):
                indexes = [waiting[i] for i in group]
                refused += self._put(indexes, entries, accepted)
            waiting = refused
            if not waiting:
                break
        if waiting:
            logger.error("EventBridge refused events", extra={"refused": len(waiting)})
        return accepted

    def _put(
        self, indexes: list[int], entries: list[dict[str, Any]], accepted: list[bool]
    ) -> list[int]:
        try:
            response = self.client.put_events(Entries=[entries[i] for i in indexes])
        except Exception as exc:  # a throttled or failed call: every entry is retried
            logger.warning("PutEvents failed", extra={"error": type(exc).__name__})
            return indexes
        refused = []
        for index, result in zip(indexes, response.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                refused.append(index)
            else:
                accepted[index] = True
        refused += indexes[len(response.get("Entries", [])) :]
        return refused


class MemoryBus:
    """An in-memory bus for tests: keeps what it is given; refuses on request."""

    def __init__(self) -> None:
        self.events: list[BackendEvent] = []
        self.refuse: set[str] = set()  # event ids to refuse

    def put(self, events: Sequence[BackendEvent]) -> list[bool]:
        """Keep the events not in ``refuse``."""
        flags = [event.event_id not in self.refuse for event in events]
        self.events += [event for event, ok in zip(events, flags, strict=True) if ok]
        return flags
