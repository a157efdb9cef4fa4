"""One keep-alive connection of the multiplexer, as an explicit state machine.

A connection is in exactly one :class:`ConnectionState`; :meth:`Connection.move` changes it
and refuses a move that :data:`TRANSITIONS` does not allow (a bug, raised as
:exc:`InvalidTransition`)::

    CONNECTING --(TLS)--> HANDSHAKING --> SENDING --> RECEIVING --> IDLE --> SENDING ...
        \\---------(plain TCP)--------------^                 any state --> CLOSED

A request may be given to a connection while it is still ``CONNECTING`` or ``HANDSHAKING``
(its bytes wait in :attr:`Connection.out`) or when it is ``IDLE``. The selector event a
connection waits for (:attr:`Connection.interest`) is separate from its state: TLS may ask
to read while a request is being sent.
"""

from __future__ import annotations

import contextlib
import enum
import select
import selectors
import socket
import ssl
from collections.abc import Callable
from typing import Any, Final, Literal

import h11

from switchboard.multiplex.messages import Request

__all__ = [
    "BLOCKED",
    "READ",
    "TRANSITIONS",
    "WRITE",
    "Connection",
    "ConnectionState",
    "InvalidTransition",
    "still_open",
    "would_block",
]

# Interest while waiting: the selector event a connection waits for.
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    CONNECTING = "connecting"  # the TCP connect is underway
    HANDSHAKING = "handshaking"  # the TLS handshake is underway
    SENDING = "sending"  # the request's bytes are going out
    RECEIVING = "receiving"  # waiting for (and reading) the response
    IDLE = "idle"  # between requests, kept alive for the next one
    CLOSED = "closed"  # the socket is closed; never used again


TRANSITIONS: Final[dict[ConnectionState, frozenset[ConnectionState]]] = {
    ConnectionState.CONNECTING: frozenset(
        {ConnectionState.HANDSHAKING, ConnectionState.SENDING, ConnectionState.CLOSED}
    ),
    ConnectionState.HANDSHAKING: frozenset({ConnectionState.SENDING, ConnectionState.CLOSED}),
    ConnectionState.SENDING: frozenset({ConnectionState.RECEIVING, ConnectionState.CLOSED}),
    ConnectionState.RECEIVING: frozenset({ConnectionState.IDLE, ConnectionState.CLOSED}),
    ConnectionState.IDLE: frozenset({ConnectionState.SENDING, ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A connection was asked to move where :data:`TRANSITIONS` does not allow: a bug."""


class Connection:
    """One keep-alive connection and the request it carries."""

    def __init__(self, sock: socket.socket, address: Any = None) -> None:
        self.sock = sock
        self.address = address
        self.http = h11.Connection(h11.CLIENT)
        self.state = ConnectionState.CONNECTING
        self.request: Request | None = None
        self.out = b""
        self.response: h11.Response | None = None
        self.deadline = 0.0
        self.interest = WRITE

    def move(self, state: ConnectionState) -> None:
        """Change state; raises :exc:`InvalidTransition` for a move the table refuses."""
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state.name} -> {state.name}")
        self.state = state

    @property
    def opening(self) -> bool:
        """Still connecting or in the TLS handshake (its deadline is the connect timeout)."""
        return self.state in (ConnectionState.CONNECTING, ConnectionState.HANDSHAKING)

    def begin(
        self, request: Request, now: float, connect_timeout: float, read_timeout: float
    ) -> None:
        """Give the connection ``request``: its bytes are framed now, sent when it is open."""
        http = self.http
        self.request = request
        self.response = None
        self.out = (
            http.send(
                h11.Request(method=request.method, target=request.target, headers=request.headers)
            )
            + (http.send(h11.Data(data=request.body)) if request.body else b"")
            + http.send(h11.EndOfMessage())
        )
        if self.state is ConnectionState.IDLE:
            self.move(ConnectionState.SENDING)
        self.deadline = now + (connect_timeout if self.opening else read_timeout)
        self.interest = WRITE

    def finish_cycle(self) -> bool:
        """After a response: keep the connection for another request (``IDLE``) when both
        sides are done with this one; False when it cannot be reused."""
        http = self.http
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            self.move(ConnectionState.IDLE)
            return True
        return False

    def close(self) -> None:
        """Close the socket; closing a closed connection does nothing."""
        if self.state is ConnectionState.CLOSED:
            return
        self.move(ConnectionState.CLOSED)
        with contextlib.suppress(OSError):
            self.sock.close()


class _Wait(enum.Enum):
    BLOCKED = "blocked"


BLOCKED: Final = _Wait.BLOCKED  # what :func:`would_block` returns when the call must wait


def would_block[T](
    connection: Connection, waits_for: int, call: Callable[..., T], *args: Any
) -> T | Literal[_Wait.BLOCKED]:
    """``call(*args)`` on the non-blocking socket, or :data:`BLOCKED` with the event to wait
    for set on ``connection``: ``waits_for`` when the socket would block, whichever TLS asks
    for when it needs to read or write first."""
    try:
        return call(*args)
    except ssl.SSLWantReadError:
        connection.interest = READ
    except ssl.SSLWantWriteError:
        connection.interest = WRITE
    except BlockingIOError:
        connection.interest = waits_for
    return BLOCKED


def still_open(sock: socket.socket) -> bool:
    """A connection between requests is usable while it has nothing to read (no EOF,
    no stray bytes); one ``poll`` call, no blocking."""
    probe = select.poll()
    probe.register(sock, select.POLLIN)
    return not probe.poll(0)
