"""Fan-out with in-memory fakes: bounded, forgiving, retrying, reporting."""

from __future__ import annotations

import random
import threading
import time

import pytest

from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.fanout import BACKOFF_CAP_SECONDS, Fanout, backoff_delay


class FakeGateway:
    def __init__(self) -> None:
        self.received: dict[str, list[bytes]] = {}
        self.gone: set[str] = set()
        self.throttled: dict[str, int] = {}
        self.broken: set[str] = set()
        self.explode: set[str] = set()
        self.pruned: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.001)
            if connection_id in self.gone:
                raise ConnectionGoneError(connection_id)
            if self.throttled.get(connection_id, 0) > 0:
                self.throttled[connection_id] -= 1
                raise DeliveryError(connection_id, "LimitExceededException", retryable=True)
            if connection_id in self.broken:
                raise DeliveryError(connection_id, "PayloadTooLargeException", retryable=False)
            if connection_id in self.explode:
                raise RuntimeError("bug in a transport")
            self.received.setdefault(connection_id, []).append(data)
        finally:
            with self._lock:
                self.in_flight -= 1

    def prune(self, connection_id: str) -> None:
        if connection_id == "unprunable":
            raise RuntimeError("DynamoDB down")
        self.pruned.append(connection_id)


def test_everyone_live_gets_it_once_and_the_report_adds_up() -> None:
    gw = FakeGateway()
    ids = [f"c{n}" for n in range(100)]
    gw.gone = set(ids[:10])
    gw.throttled = dict.fromkeys(ids[10:20], 1)
    gw.broken = {ids[20]}
    gw.explode = {ids[21]}
    sleeps: list[float] = []
    report = Fanout(gw.post, gw.prune, concurrency=8, sleep=sleeps.append).deliver(iter(ids), b"m")
    assert (report.delivered, report.pruned, report.failed) == (88, 10, 2)
    assert report.recipients == 100
    assert report.retries == 10
    assert sorted(gw.pruned) == sorted(ids[:10])
    assert all(gw.received[cid] == [b"m"] for cid in ids[10:20] + ids[22:])
    assert len(sleeps) == 10
    assert report.as_dict() == {"delivered": 88, "pruned": 10, "failed": 2}


def test_concurrency_is_bounded() -> None:
    gw = FakeGateway()
    Fanout(gw.post, gw.prune, concurrency=4).deliver((f"c{n}" for n in range(200)), b"m")
    assert 1 < gw.max_in_flight <= 4
    assert len(gw.received) == 200


@pytest.mark.parametrize("concurrency", [1, 2, 7])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 50])
def test_every_recipient_gets_it_whatever_the_concurrency(concurrency: int, count: int) -> None:
    gw = FakeGateway()
    ids = [f"c{n}" for n in range(count)]
    report = Fanout(gw.post, gw.prune, concurrency=concurrency).deliver(iter(ids), b"m")
    assert report.delivered == count
    assert gw.received == {cid: [b"m"] for cid in ids}
    assert gw.max_in_flight <= concurrency


def test_throttling_beyond_the_attempts_is_a_failure() -> None:
    gw = FakeGateway()
    gw.throttled = {"slow": 10}
    report = Fanout(gw.post, gw.prune, max_attempts=3, sleep=lambda _s: None).deliver(
        ["slow"], b"m"
    )
    assert (report.delivered, report.failed, report.retries) == (0, 1, 2)


def test_a_failed_prune_counts_as_failed_and_does_not_raise() -> None:
    gw = FakeGateway()
    gw.gone = {"unprunable", "c1"}
    report = Fanout(gw.post, gw.prune).deliver(["unprunable", "c1", "c2"], b"m")
    assert (report.delivered, report.pruned, report.failed) == (1, 1, 1)


def test_no_recipients() -> None:
    report = Fanout(FakeGateway().post, FakeGateway().prune).deliver([], b"m")
    assert report.recipients == 0


@pytest.mark.parametrize("attempt", [1, 2, 5, 30])
def test_backoff_is_full_jitter_below_a_growing_capped_ceiling(attempt: int) -> None:
    rng = random.Random(7)
    ceiling = min(BACKOFF_CAP_SECONDS, 0.05 * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt, rng) for _ in range(500)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.9
    assert min(delays) < ceiling * 0.1
