"""The multiplexer: one host's requests, many in flight on one thread.

:class:`Multiplexer` holds what outlives one exchange (the host's
:class:`~switchboard.multiplex.addresses.AddressCache`, the
:class:`~switchboard.multiplex.pool.ConnectionPool`, the TLS context made on first use) and
advances a connection one step on each ready event (:meth:`Multiplexer.step`): connect,
TLS handshake, send, receive. One exchange's selector loop is
:class:`~switchboard.multiplex.selector_loop.Round`.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import h11

from switchboard.multiplex.addresses import AddressCache
from switchboard.multiplex.connection import (
    BLOCKED,
    READ,
    WRITE,
    Connection,
    ConnectionState,
    would_block,
)
from switchboard.multiplex.messages import Request, Response, TransportError
from switchboard.multiplex.pacer import PacedRequests
from switchboard.multiplex.pool import ConnectionPool
from switchboard.multiplex.selector_loop import Outcome, Round, Timeouts

__all__ = ["Multiplexer"]


class Multiplexer:
    """Requests to one ``host:port`` (TLS when ``tls`` is given), many in flight at once.

    ``tls`` makes the TLS context on first use (loading CA certificates takes a few
    milliseconds that a cold start need not pay before its first fan-out).

    Idle keep-alive connections are kept between calls of :meth:`exchange` (up to
    ``max_idle``), as a connection pool would; calls from several threads each use their
    own connections.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: Callable[[], ssl.SSLContext] | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        max_idle: int = 64,
        socket_options: list[tuple[int, int, int]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._tls_factory = tls
        self._tls: ssl.SSLContext | None = None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.addresses = AddressCache(host, port)
        self.pool = ConnectionPool(self.addresses, max_idle=max_idle, socket_options=socket_options)

    def close(self) -> None:
        """Close the idle connections."""
        self.pool.close()

    def exchange(
        self,
        requests: Iterator[Request],
        concurrency: int,
        pace: Callable[[], float] | None = None,
    ) -> Iterator[tuple[str, Response | Exception]]:
        """Send every request, at most ``concurrency`` in flight; yield each one's key and
        its response or error (a :class:`TransportError`, or what building it raised), in
        the order they complete.

        ``pace`` books the next request's slot and says how long to wait for it (seconds):
        the request is held back that long while the others go on (no sleeping).
        """
        timeouts = Timeouts(self.connect_timeout, self.read_timeout)
        paced = PacedRequests(requests, pace)
        return Round(self.step, self.pool, paced, max(1, concurrency), timeouts).run()

    # ---------------------------------------------------------------- one step

    def step(self, connection: Connection) -> Outcome:
        """Advance ``connection`` on a ready event: its outcome once it has one."""
        try:
            state = connection.state
            if state is ConnectionState.CONNECTING:
                return self._connected(connection)
            if state is ConnectionState.HANDSHAKING:
                return self._handshake(connection)
            if state is ConnectionState.SENDING:
                return self._send(connection)
            return self._receive(connection)
        except ssl.SSLError as exc:
            return TransportError("SSLError", str(exc))
        except (h11.ProtocolError, OSError) as exc:  # a reset, a broken pipe, bad framing
            return TransportError("ProtocolError", str(exc))

    def _connected(self, connection: Connection) -> Outcome:
        result = connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if result:
            self.addresses.demote(connection.address)
            return TransportError("NewConnectionError", errno.errorcode.get(result, str(result)))
        if self._tls_factory is not None:
            if self._tls is None:
                self._tls = self._tls_factory()
            connection.sock = self._tls.wrap_socket(
                connection.sock, server_hostname=self.host, do_handshake_on_connect=False
            )
            connection.move(ConnectionState.HANDSHAKING)
            return self._handshake(connection)
        return self._ready(connection)

    def _handshake(self, connection: Connection) -> Outcome:
        sock = connection.sock
        assert isinstance(sock, ssl.SSLSocket)
        if would_block(connection, WRITE, sock.do_handshake) is BLOCKED:
            return None
        return self._ready(connection)

    def _ready(self, connection: Connection) -> Outcome:
        """Connected (and TLS set up): the response is now due within the read timeout."""
        connection.move(ConnectionState.SENDING)
        connection.deadline = time.monotonic() + self.read_timeout
        return self._send(connection)

    @staticmethod
    def _send(connection: Connection) -> Outcome:
        while connection.out:
            sent = would_block(connection, WRITE, connection.sock.send, connection.out)
            if sent is BLOCKED:
                return None
            connection.out = connection.out[sent:]
        connection.move(ConnectionState.RECEIVING)
        connection.interest = READ
        return None

    def _receive(self, connection: Connection) -> Outcome:
        sock = connection.sock
        connection.interest = READ
        while True:
            data = would_block(connection, READ, sock.recv, 65536)
            if data is BLOCKED:
                return None
            connection.http.receive_data(data)
            outcome = self._events(connection)
            if outcome is not None or not data:
                return outcome or TransportError("ProtocolError", "connection closed")
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return None

    @staticmethod
    def _events(connection: Connection) -> Response | None:
        while True:
            event = connection.http.next_event()
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Response):
                connection.response = event
            elif isinstance(event, h11.EndOfMessage):
                response = connection.response
                assert response is not None
                headers = {
                    name.decode("latin-1"): value.decode("latin-1")
                    for name, value in response.headers
                }
                return Response(response.status_code, headers)
            elif isinstance(event, h11.ConnectionClosed):
                return None
