"""Fan-out: deliver one frame to many connections, concurrently and forgivingly.

Delivery is bounded (``FANOUT_CONCURRENCY`` posts in flight, optionally paced to
``max_rate`` posts per second), keeps going past a failed send, prunes connections the
Management API reports gone (410), retries throttling (429) and server errors with
exponential backoff and full jitter, and returns a :class:`FanoutReport`. It never
raises for one recipient's failure.

Given ``post_many`` (the delivery engine's), every post is made from the caller's thread
with ``concurrency`` of them in flight (:mod:`switchboard.multiplex`), and the retryable
failures of a round are retried together after one backoff. Otherwise (the boto3 client)
worker threads pull connection ids from the shared iterator (no task object per
recipient), and a fan-out to a single recipient runs on the caller's thread. Above an
:class:`Overflow`'s threshold, the recipients are handed to it (SQS batches for the
fan-out worker, :mod:`switchboard.queueing`) instead of being posted here.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Protocol

from switchboard.errors import ConnectionGoneError, DeliveryError

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0

Post = Callable[[str, bytes], None]
Prune = Callable[[str], object]


class PostMany(Protocol):
    """Posts to many connections with ``concurrency`` in flight on the calling thread,
    yielding each id with ``None`` or the error ``post`` would raise; ``pace`` books each
    post's slot and says how long to hold it back (``DeliveryEngine.post_many``)."""

    def __call__(
        self,
        connection_ids: Iterable[str],
        data: bytes,
        concurrency: int,
        pace: Callable[[], float] | None = None,
    ) -> Iterator[tuple[str, Exception | None]]: ...


@dataclass
class FanoutReport:
    """What one fan-out did: how many got the frame, were pruned, or failed."""

    delivered: int = 0
    pruned: int = 0
    failed: int = 0
    retries: int = 0
    queued: int = 0
    unfinished: list[str] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def recipients(self) -> int:
        """Every connection the fan-out tried."""
        return self.delivered + self.pruned + self.failed

    def as_dict(self) -> dict[str, int]:
        """The counts, for an ``ack`` and a log line (``queued`` only when some were)."""
        counts = {"delivered": self.delivered, "pruned": self.pruned, "failed": self.failed}
        if self.queued:
            counts["queued"] = self.queued
        return counts

    def _count(self, outcome: str, retries: int, unfinished: str | None = None) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.retries += retries
            if unfinished is not None:
                self.unfinished.append(unfinished)


class Overflow(Protocol):
    """Takes over a fan-out above :attr:`threshold` recipients (e.g. SQS batches)."""

    threshold: int

    def enqueue(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Hand the recipients over; the report counts them as ``queued``."""
        ...


class Pacer:
    """Spaces posts at most ``rate`` per second across threads (a worker's share of the
    account's API Gateway request limit)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Book the next slot; how long to wait for it, in seconds."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self._interval
        return slot - now


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter backoff before retry number ``attempt`` (1-based), in seconds."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** (attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def post_retrying(
    post: Post,
    connection_id: str,
    data: bytes,
    *,
    max_attempts: int,
    sleep: Callable[[float], None],
    before: Callable[[], None] | None = None,
) -> tuple[int, Exception | None]:
    """Post once, retrying a retryable :class:`DeliveryError` (429, 5xx) with backoff.

    Returns the attempts made and what finally failed (``None`` on success): a
    :class:`ConnectionGoneError` at once, the last :class:`DeliveryError`, or any other
    exception. ``before`` runs before each attempt (pacing).
    """
    attempt = 0
    while True:
        attempt += 1
        if before is not None:
            before()
        try:
            post(connection_id, data)
        except DeliveryError as exc:
            if exc.retryable and attempt < max_attempts:
                sleep(backoff_delay(attempt))
                continue
            return attempt, exc
        except Exception as exc:
            return attempt, exc
        return attempt, None


class Fanout:
    """Delivers frames through ``post`` and prunes gone connections through ``prune``."""

    def __init__(
        self,
        post: Post,
        prune: Prune,
        *,
        concurrency: int = 32,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        overflow: Overflow | None = None,
        max_rate: float | None = None,
        post_many: PostMany | None = None,
    ) -> None:
        self._post = post
        self._post_many = post_many
        self._prune = prune
        self._concurrency = max(1, concurrency)
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._overflow = overflow
        pacer = self._pacer = Pacer(max_rate) if max_rate else None
        self._before_post = None if pacer is None else functools.partial(self._pace, pacer)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._concurrency, thread_name_prefix="fanout"
                )
            return self._executor

    def deliver(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Send ``data`` to every connection in ``connection_ids``; never raises for one."""
        ids = iter(connection_ids)
        overflow = self._overflow
        if overflow is not None:
            head = list(islice(ids, overflow.threshold + 1))
            if len(head) > overflow.threshold:
                report = overflow.enqueue(chain(head, ids), data)
                leftovers, report.unfinished = report.unfinished, []
                self._deliver_all(iter(leftovers), data, report)
                return report
            return self._deliver_all(iter(head), data, FanoutReport())
        return self._deliver_all(ids, data, FanoutReport())

    def _deliver_all(self, ids: Iterator[str], data: bytes, report: FanoutReport) -> FanoutReport:
        if self._post_many is not None:
            return self._deliver_multiplexed(self._post_many, ids, data, report)
        head = list(islice(ids, self._concurrency))
        if len(head) <= 1 or self._concurrency <= 1:  # one at a time: no thread needed
            for connection_id in chain(head, ids):
                self._deliver_one(connection_id, data, report)
            return report
        source = chain(head, ids)
        lock = threading.Lock()
        pool = self._pool()
        futures: list[Future[None]] = [
            pool.submit(self._work, source, lock, data, report)
            for _ in range(min(self._concurrency, len(head)))
        ]
        for future in futures:
            future.result()
        return report

    def _work(
        self, source: Iterator[str], lock: threading.Lock, data: bytes, report: FanoutReport
    ) -> None:
        while True:
            with lock:
                connection_id = next(source, None)
            if connection_id is None:
                return
            self._deliver_one(connection_id, data, report)

    def _deliver_multiplexed(
        self, post_many: PostMany, ids: Iterator[str], data: bytes, report: FanoutReport
    ) -> FanoutReport:
        """Every recipient through ``post_many`` (one thread, many posts in flight); the
        retryable failures of a round are retried together after one backoff."""
        attempt = 1
        pace = None if self._pacer is None else self._pacer.delay
        while True:
            retry: list[str] = []
            for connection_id, error in post_many(ids, data, self._concurrency, pace):
                if (
                    isinstance(error, DeliveryError)
                    and error.retryable
                    and attempt < self._max_attempts
                ):
                    retry.append(connection_id)
                else:
                    self._record(connection_id, attempt, error, report)
            if not retry:
                return report
            self._sleep(backoff_delay(attempt))
            attempt += 1
            ids = iter(retry)

    def _deliver_one(self, connection_id: str, data: bytes, report: FanoutReport) -> None:
        attempts, error = post_retrying(
            self._post,
            connection_id,
            data,
            max_attempts=self._max_attempts,
            sleep=self._sleep,
            before=self._before_post,
        )
        self._record(connection_id, attempts, error, report)

    def _record(
        self, connection_id: str, attempts: int, error: Exception | None, report: FanoutReport
    ) -> None:
        """Count one recipient's final outcome after ``attempts`` posts."""
        retries = attempts - 1
        if error is None:
            report._count("delivered", retries)
        elif isinstance(error, ConnectionGoneError):
            report._count(self._prune_gone(connection_id), retries)
        elif isinstance(error, DeliveryError):
            logger.warning(
                "delivery failed",
                extra={"recipient": connection_id, "code": error.code, "attempts": attempts},
            )
            report._count("failed", retries, connection_id if error.retryable else None)
        else:
            logger.error("delivery failed", extra={"recipient": connection_id}, exc_info=error)
            report._count("failed", retries)

    def _pace(self, pacer: Pacer) -> None:
        wait = pacer.delay()
        if wait > 0:
            self._sleep(wait)

    def _prune_gone(self, connection_id: str) -> str:
        try:
            self._prune(connection_id)
        except Exception:
            logger.exception("pruning a gone connection failed", extra={"recipient": connection_id})
            return "failed"
        return "pruned"
