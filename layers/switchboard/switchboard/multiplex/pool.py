"""The multiplexer's connections between exchanges: new ones opened, idle ones kept.

Up to ``max_idle`` keep-alive connections wait here between calls of
:meth:`~switchboard.multiplex.Multiplexer.exchange`, as a connection pool would; one the
server closed while it was idle is dropped when taken. Shared by the threads that use one
multiplexer (each exchange takes its own connections).
"""

from __future__ import annotations

import errno
import socket
import threading

from switchboard.multiplex.addresses import AddressCache
from switchboard.multiplex.connection import Connection, still_open
from switchboard.multiplex.messages import TransportError

__all__ = ["ConnectionPool"]

DEFAULT_SOCKET_OPTIONS = [
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
]


class ConnectionPool:
    """Opens connections to one address cache's host and keeps the idle ones."""

    def __init__(
        self,
        addresses: AddressCache,
        *,
        max_idle: int = 64,
        socket_options: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.addresses = addresses
        self.max_idle = max_idle
        self.socket_options = socket_options or DEFAULT_SOCKET_OPTIONS
        self.idle: list[Connection] = []
        self._lock = threading.Lock()

    def take_idle(self) -> Connection | None:
        """An idle connection still open, or None."""
        while True:
            with self._lock:
                if not self.idle:
                    return None
                connection = self.idle.pop()
            if still_open(connection.sock):
                return connection
            connection.close()  # the server closed it while it was idle

    def give_back(self, connection: Connection) -> None:
        """Keep ``connection`` (idle) for a later request, or close it past ``max_idle``."""
        with self._lock:
            if len(self.idle) < self.max_idle:
                self.idle.append(connection)
                return
        connection.close()

    def open(self) -> Connection:
        """A connection whose TCP connect has begun (raises :exc:`TransportError`)."""
        try:
            family, kind, proto, _, address = self.addresses.first()
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise TransportError("NewConnectionError", str(exc)) from None
        try:
            for option in self.socket_options:
                sock.setsockopt(*option)
            sock.setblocking(False)
            result = sock.connect_ex(address)
        except OSError as exc:
            sock.close()
            raise TransportError("NewConnectionError", str(exc)) from None
        if result not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self.addresses.demote(address)
            raise TransportError("NewConnectionError", errno.errorcode.get(result, str(result)))
        return Connection(sock, address=address)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()
