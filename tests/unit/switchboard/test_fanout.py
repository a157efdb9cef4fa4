"""Fan-out with in-memory fakes: bounded, forgiving, retrying, reporting."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
        self.rounds: list[int] = []  # post_many calls, by concurrency
        self.held_back: list[float] = []  # what pace() said before each post
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

    def post_many(
        self,
        connection_ids: Iterable[str],
        data: bytes,
        concurrency: int,
        pace: Callable[[], float] | None = None,
    ) -> Iterator[tuple[str, Exception | None]]:
        """As the engine's: every id with its outcome (here one at a time, in order)."""
        self.rounds.append(concurrency)
        for connection_id in connection_ids:
            if pace is not None:
                self.held_back.append(pace())
            try:
                self.post(connection_id, data)
            except Exception as exc:
                yield connection_id, exc
            else:
                yield connection_id, None

    def prune(self, connection_id: str) -> None:
        if connection_id == "unprunable":
            raise RuntimeError("DynamoDB down")
        self.pruned.append(connection_id)


MODES = ["threads", "multiplexed"]


def fanout(gw: FakeGateway, mode: str, **options: Any) -> Fanout:
    """A fan-out through threads (``post``) or through one ``post_many`` (the engine's)."""
    post_many = gw.post_many if mode == "multiplexed" else None
    return Fanout(gw.post, gw.prune, post_many=post_many, **options)


@pytest.mark.parametrize("mode", MODES)
def test_everyone_live_gets_it_once_and_the_report_adds_up(mode: str) -> None:
    gw = FakeGateway()
    ids = [f"c{n}" for n in range(100)]
    gw.gone = set(ids[:10])
    gw.throttled = dict.fromkeys(ids[10:20], 1)
    gw.broken = {ids[20]}
    gw.explode = {ids[21]}
    sleeps: list[float] = []
    report = fanout(gw, mode, concurrency=8, sleep=sleeps.append).deliver(iter(ids), b"m")
    assert (report.delivered, report.pruned, report.failed) == (88, 10, 2)
    assert report.recipients == 100
    assert report.retries == 10
    assert sorted(gw.pruned) == sorted(ids[:10])
    assert all(gw.received[cid] == [b"m"] for cid in ids[10:20] + ids[22:])
    # threads back off per recipient; the multiplexed fan-out once per round of retries
    assert len(sleeps) == (10 if mode == "threads" else 1)
    assert report.as_dict() == {"delivered": 88, "pruned": 10, "failed": 2}


def test_multiplexed_retries_go_in_rounds_with_growing_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw = FakeGateway()
    gw.throttled = {"a": 2, "b": 1, "c": 5}
    ceilings: list[int] = []
    monkeypatch.setattr(
        "switchboard.fanout.backoff_delay", lambda attempt: ceilings.append(attempt) or 0.0
    )
    report = fanout(gw, "multiplexed", concurrency=5, max_attempts=4).deliver(
        ["a", "b", "c", "d"], b"m"
    )
    assert gw.rounds == [5, 5, 5, 5]  # the first try, then three rounds of retries
    assert ceilings == [1, 2, 3]
    assert (report.delivered, report.failed, report.retries) == (3, 1, 1 + 2 + 3)
    assert report.unfinished == ["c"]  # still throttled: the SQS worker re-queues it


def test_concurrency_is_bounded() -> None:
    gw = FakeGateway()
    Fanout(gw.post, gw.prune, concurrency=4).deliver((f"c{n}" for n in range(200)), b"m")
    assert 1 < gw.max_in_flight <= 4
    assert len(gw.received) == 200


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("concurrency", [1, 2, 7])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 50])
def test_every_recipient_gets_it_whatever_the_concurrency(
    concurrency: int, count: int, mode: str
) -> None:
    gw = FakeGateway()
    ids = [f"c{n}" for n in range(count)]
    report = fanout(gw, mode, concurrency=concurrency).deliver(iter(ids), b"m")
    assert report.delivered == count
    assert gw.received == {cid: [b"m"] for cid in ids}
    assert gw.max_in_flight <= concurrency


@pytest.mark.parametrize("mode", MODES)
def test_throttling_beyond_the_attempts_is_a_failure(mode: str) -> None:
    gw = FakeGateway()
    gw.throttled = {"slow": 10}
    report = fanout(gw, mode, max_attempts=3, sleep=lambda _s: None).deliver(["slow"], b"m")
    assert (report.delivered, report.failed, report.retries) == (0, 1, 2)
    assert report.unfinished == ["slow"]


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_prune_counts_as_failed_and_does_not_raise(mode: str) -> None:
    gw = FakeGateway()
    gw.gone = {"unprunable", "c1"}
    report = fanout(gw, mode).deliver(["unprunable", "c1", "c2"], b"m")
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


def test_a_paced_multiplexed_fanout_holds_each_post_back_without_sleeping() -> None:
    gw = FakeGateway()
    slept: list[float] = []
    report = fanout(gw, "multiplexed", max_rate=100, sleep=slept.append).deliver(
        [f"c{n}" for n in range(5)], b"m"
    )
    assert report.delivered == 5
    # 100 per second: each post after the first is held back for its slot (10 ms apart);
    # the engine waits on its sockets meanwhile, so the fan-out itself never sleeps
    assert len(gw.held_back) == 5
    assert gw.held_back[0] <= 0.01
    assert all(0.005 < s <= 0.05 for s in gw.held_back[2:])
    assert slept == []
