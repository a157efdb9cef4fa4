"""One multiplexed exchange: a selector over the connections in flight, on one thread.

:class:`Round` starts requests until ``concurrency`` are in flight (on a connection that
just finished, then idle ones, then new ones), waits on one :mod:`selectors` selector until
a connection is ready, a deadline passes or a paced request's slot comes, advances the
ready connections one step each, and yields each request's outcome as it completes. A
connection that fails is closed and replaced, never reused; when the caller stops early,
nothing half-sent stays open.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from switchboard.multiplex.connection import Connection, still_open
from switchboard.multiplex.messages import Response, TransportError
from switchboard.multiplex.pacer import PacedRequests
from switchboard.multiplex.pool import ConnectionPool

__all__ = ["Outcome", "Round", "Timeouts"]

Outcome = Response | TransportError | None  # None: not finished yet
Result = tuple[str, Response | Exception]  # a request's key and its response or error


class Timeouts(NamedTuple):
    """Seconds a connection may take to open (TCP and TLS), and a response to come."""

    connect: float
    read: float


class Round:
    """One :meth:`~switchboard.multiplex.Multiplexer.exchange`: its selector and the
    connections in flight."""

    def __init__(
        self,
        step: Callable[[Connection], Outcome],
        pool: ConnectionPool,
        requests: PacedRequests,
        concurrency: int,
        timeouts: Timeouts,
    ) -> None:
        self.step = step
        self.pool = pool
        self.requests = requests
        self.concurrency = concurrency
        self.timeouts = timeouts
        self.selector = selectors.DefaultSelector()
        self.active: dict[int, Connection] = {}  # by file descriptor

    def run(self) -> Iterator[Result]:
        """Yield every request's outcome, in the order they complete."""
        selector, active = self.selector, self.active
        spare: Connection | None = None  # finished, reusable, not yet given a request
        try:
            yield from self.refill()
            while active or self.requests.held_until is not None:
                wait = min((c.deadline for c in active.values()), default=float("inf"))
                held_until = self.requests.held_until
                if held_until is not None:
                    wait = min(wait, held_until)
                wait = max(0.0, wait - time.monotonic())
                for key, _events in selector.select(wait):
                    connection: Connection = key.data
                    outcome = self.step(connection)
                    if outcome is None:
                        if connection.interest != key.events:
                            selector.modify(connection.sock, connection.interest, connection)
                        continue
                    key_and_outcome = self.finish(connection, outcome)
                    if isinstance(outcome, Response) and connection.finish_cycle():
                        spare = connection
                    else:
                        connection.close()
                    yield key_and_outcome
                    reuse, spare = spare, None
                    yield from self.refill(reuse)
                yield from self.expire()
        finally:
            # The caller stopped early: nothing half-sent stays open.
            for connection in [*active.values(), *([spare] if spare else [])]:
                connection.close()
            selector.close()

    def finish(self, connection: Connection, outcome: Response | Exception) -> Result:
        """Take ``connection`` out of the selector; its request's key and outcome."""
        request = connection.request
        assert request is not None
        self.selector.unregister(connection.sock)
        del self.active[connection.sock.fileno()]
        return request.key, outcome

    def expire(self) -> Iterator[Result]:
        """Fail the requests past their deadline (their connections are closed)."""
        now = time.monotonic()
        for connection in [c for c in self.active.values() if c.deadline <= now]:
            code = "ConnectTimeoutError" if connection.opening else "ReadTimeoutError"
            key_and_outcome = self.finish(connection, TransportError(code))
            connection.close()
            yield key_and_outcome
        yield from self.refill()

    def refill(self, connection: Connection | None = None) -> Iterator[Result]:
        """Start requests until ``concurrency`` are in flight or none may start, on
        ``connection`` first (a finished, reusable one), then idle ones, then new ones.
        A request that cannot start is reported at once with its error."""
        try:
            while len(self.active) < self.concurrency:
                request = self.requests.next_request()
                if request is None:
                    break
                if request.error is not None:
                    yield request.key, request.error
                    continue
                if connection is not None and not still_open(connection.sock):
                    connection.close()  # the server closed it after its last answer
                    connection = None
                if connection is None:
                    connection = self.pool.take_idle()
                if connection is None:
                    try:
                        connection = self.pool.open()
                    except TransportError as exc:
                        yield request.key, exc
                        continue
                try:
                    connection.begin(
                        request, time.monotonic(), self.timeouts.connect, self.timeouts.read
                    )
                except Exception as exc:  # e.g. h11 refusing a header: this request only
                    connection.close()
                    connection = None
                    yield request.key, exc
                    continue
                self.active[connection.sock.fileno()] = connection
                self.selector.register(connection.sock, connection.interest, connection)
                connection = None
        finally:
            if connection is not None:
                self.pool.give_back(connection)
