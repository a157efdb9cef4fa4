"""The multiplexer's DNS cache: one host's addresses, looked up at most once a minute.

The lookup blocks the thread, so it is not made per connection; an address that refused a
connection is tried after the others until the next lookup.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

__all__ = ["RESOLVE_EVERY_SECONDS", "AddressCache"]

RESOLVE_EVERY_SECONDS = 60.0


class AddressCache:
    """``host:port``'s ``getaddrinfo`` entries, best first; safe to share between threads."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._addresses: list[tuple[Any, ...]] = []
        self._resolved_at = -RESOLVE_EVERY_SECONDS

    def first(self) -> tuple[Any, ...]:
        """The entry to connect to (``family, type, proto, canonname, sockaddr``); raises
        :exc:`OSError` (``socket.gaierror``) when the host does not resolve."""
        with self._lock:
            if time.monotonic() - self._resolved_at >= RESOLVE_EVERY_SECONDS:
                self._addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                self._resolved_at = time.monotonic()
            return self._addresses[0]

    def demote(self, address: Any) -> None:
        """``address`` (a sockaddr) failed: try the others first."""
        with self._lock:
            found = [entry for entry in self._addresses if entry[4] == address]
            if found and len(self._addresses) > 1:
                self._addresses = [e for e in self._addresses if e[4] != address] + found
