"""Pacing: a request waits for its slot without sleeping; one that failed to build takes none."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devtools.management_server import ManagementServer, ManagementState
from switchboard.multiplex import Multiplexer, Request, Response
from switchboard.multiplex import pacer as pacer_module
from switchboard.multiplex.pacer import PacedRequests


def _requests(keys: list[str], body: bytes, host: str) -> Iterator[Request]:
    for key in keys:
        headers = [("Host", host), ("Content-Length", str(len(body)))]
        yield Request(key, "POST", f"/dev/@connections/{key}", headers, body)


def test_a_request_is_held_until_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(pacer_module.time, "monotonic", lambda: now[0])
    delays = iter([0.0, 0.5])
    paced = PacedRequests(iter([Request("a"), Request("b")]), lambda: next(delays))
    assert paced.next_request() == Request("a")
    assert paced.held_until is None
    assert paced.next_request() is None  # "b" booked a slot 0.5 s away
    assert paced.held_until == 100.5
    now[0] = 100.499
    assert paced.next_request() is None
    now[0] = 100.5
    assert paced.next_request() == Request("b")
    assert paced.held_until is None
    assert paced.next_request() is None  # none left
    assert paced.held_until is None


def test_a_request_that_failed_to_build_takes_no_slot() -> None:
    booked: list[int] = []
    failed = Request("b", error=RuntimeError("no credentials"))
    paced = PacedRequests(iter([failed, Request("c")]), lambda: booked.append(1) or 0.0)
    assert paced.next_request() is failed
    assert booked == []
    assert paced.next_request() == Request("c")
    assert booked == [1]


def test_without_pace_requests_come_as_they_are() -> None:
    paced = PacedRequests(iter([Request("a"), Request("b")]), None)
    assert [paced.next_request(), paced.next_request(), paced.next_request()] == [
        Request("a"),
        Request("b"),
        None,
    ]


def test_a_paced_round_keeps_reading_while_it_holds_requests_back() -> None:
    """20 posts a second with a 0.3 s read timeout: the posts wait for their slots while
    the answers already sent are read, so none times out."""
    slots = iter(range(100))
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, read_timeout=0.3)
        started = time.monotonic()
        keys = [f"k{n}" for n in range(8)]
        results = dict(
            mux.exchange(
                _requests(keys, b"{}", "127.0.0.1"),
                8,
                pace=lambda: max(0.0, next(slots) * 0.05 - (time.monotonic() - started)),
            )
        )
        elapsed = time.monotonic() - started
        mux.close()
    assert all(isinstance(r, Response) for r in results.values()), results
    assert elapsed >= 0.3  # the eighth slot is 0.35 s after the first
