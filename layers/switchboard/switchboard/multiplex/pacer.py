"""Pacing a multiplexed exchange: each request waits for its slot without sleeping.

The caller's ``pace`` books the next request's slot and says how long to wait for it
(seconds). :class:`PacedRequests` holds that request back until then; the selector loop
goes on reading the answers already in flight and wakes up at :attr:`held_until`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from switchboard.multiplex.messages import Request

__all__ = ["PacedRequests"]


class PacedRequests:
    """The caller's requests, pulled one at a time, each no earlier than its slot."""

    def __init__(self, requests: Iterator[Request], pace: Callable[[], float] | None) -> None:
        self.requests = requests
        self.pace = pace
        self.held: tuple[Request, float] | None = None  # not to start before then (monotonic)

    @property
    def held_until(self) -> float | None:
        """When the held request may start (monotonic), or None when none is held."""
        return None if self.held is None else self.held[1]

    def next_request(self) -> Request | None:
        """The next request that may start now (None: none left, or a paced one waits).

        A request that could not be built (``error``) takes no slot."""
        if self.held is not None:
            request, not_before = self.held
            if time.monotonic() < not_before:
                return None
            self.held = None
            return request
        upcoming = next(self.requests, None)
        if upcoming is not None and self.pace is not None and upcoming.error is None:
            delay = self.pace()
            if delay > 0:
                self.held = (upcoming, time.monotonic() + delay)
                return None
        return upcoming
