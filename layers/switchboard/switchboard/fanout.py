"""Fan-out: deliver one frame to many connections, concurrently and forgivingly.

Delivery is bounded (``FANOUT_CONCURRENCY`` posts in flight), keeps going past a
failed send, prunes connections the Management API reports gone (410), retries
throttling (429) and server errors with exponential backoff and full jitter, and
returns a :class:`FanoutReport`. It never raises for one recipient's failure.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from switchboard.errors import ConnectionGoneError, DeliveryError

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0

Post = Callable[[str, bytes], None]
Prune = Callable[[str], object]


@dataclass
class FanoutReport:
    """What one fan-out did: how many got the frame, were pruned, or failed."""

    delivered: int = 0
    pruned: int = 0
    failed: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def recipients(self) -> int:
        """Every connection the fan-out tried."""
        return self.delivered + self.pruned + self.failed

    def as_dict(self) -> dict[str, int]:
        """The counts, for an ``ack`` and a log line."""
        return {"delivered": self.delivered, "pruned": self.pruned, "failed": self.failed}

    def _count(self, outcome: str, retries: int) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.retries += retries


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Full-jitter backoff before retry number ``attempt`` (1-based), in seconds."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** (attempt - 1)))
    return (rng or random).uniform(0, ceiling)


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
    ) -> None:
        self._post = post
        self._prune = prune
        self._concurrency = max(1, concurrency)
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._concurrency, thread_name_prefix="fanout"
            )
        return self._executor

    def deliver(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Send ``data`` to every connection in ``connection_ids``; never raises for one."""
        report = FanoutReport()
        in_flight = threading.BoundedSemaphore(self._concurrency * 2)
        futures: list[Future[None]] = []
        pool = self._pool()
        for connection_id in connection_ids:
            in_flight.acquire()
            future = pool.submit(self._deliver_one, connection_id, data, report)
            future.add_done_callback(lambda _f: in_flight.release())
            futures.append(future)
        for future in futures:
            future.result()
        return report

    def _deliver_one(self, connection_id: str, data: bytes, report: FanoutReport) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                self._post(connection_id, data)
            except ConnectionGoneError:
                report._count(self._prune_gone(connection_id), attempt - 1)
                return
            except DeliveryError as exc:
                if exc.retryable and attempt < self._max_attempts:
                    self._sleep(backoff_delay(attempt))
                    continue
                logger.warning(
                    "delivery failed",
                    extra={"recipient": connection_id, "code": exc.code, "attempts": attempt},
                )
                report._count("failed", attempt - 1)
                return
            except Exception:
                logger.exception("delivery failed", extra={"recipient": connection_id})
                report._count("failed", attempt - 1)
                return
            report._count("delivered", attempt - 1)
            return

    def _prune_gone(self, connection_id: str) -> str:
        try:
            self._prune(connection_id)
        except Exception:
            logger.exception("pruning a gone connection failed", extra={"recipient": connection_id})
            return "failed"
        return "pruned"
