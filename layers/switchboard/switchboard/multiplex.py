"""Many HTTP/1.1 requests in flight on one thread: keep-alive sockets and one selector.

A fan-out through a thread pool pays for its threads: every blocking socket call hands the
GIL to another thread, and with 32 of them that doubles the CPU each post costs
(``bench/fanout_threads.py``). Here one thread keeps up to ``concurrency`` requests in
flight over non-blocking keep-alive connections (TLS included), waiting on them with one
:mod:`selectors` selector. HTTP/1.1 framing is done by h11 (sans-I/O): this module only
moves bytes, keeps time and reuses connections.

Requests are pulled from the caller's iterator only when a connection is free, so a
request is built (and signed) just before it is sent. Each one yields its response's
status and headers, or the transport error that ended it: a connection that fails is
closed and replaced, never reused.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import select
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import h11

# Interest while waiting: the selector event each connection state waits for.
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
RESOLVE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Request:
    """One request: ``key`` names it in the results (the connection id).

    A request that could not be built (its signing failed) carries the ``error`` instead,
    which is reported for its key without sending anything.
    """

    key: str
    method: str = "POST"
    target: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: Exception | None = None


@dataclass(frozen=True)
class Response:
    """A complete response's status and headers (names lower-cased); the body is read
    and dropped."""

    status: int
    headers: dict[str, str]


class TransportError(Exception):
    """A request ended without a response; ``code`` names why, as urllib3 would."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


class _Connection:
    """One keep-alive connection and the request it carries, as a state machine."""

    def __init__(self, sock: socket.socket, connecting: bool, address: Any = None) -> None:
        self.sock = sock
        self.address = address
        self.http = h11.Connection(h11.CLIENT)
        self.connecting = connecting  # the TCP connect (then the TLS handshake) is underway
        self.handshaking = False
        self.request: Request | None = None
        self.out = b""
        self.response: h11.Response | None = None
        self.deadline = 0.0
        self.interest = WRITE

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


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
        self._max_idle = max_idle
        self._socket_options = socket_options or [
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        ]
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._addresses: list[tuple[Any, ...]] = []
        self._resolved_at = -RESOLVE_EVERY_SECONDS

    # ---------------------------------------------------------------- connections

    def _take_idle(self) -> _Connection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if _still_open(connection.sock):
                return connection
            connection.close()  # the server closed it while it was idle

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _address(self) -> tuple[Any, ...]:
        """The address to connect to: the host is resolved at most once a minute (the
        lookup blocks), and an address that failed is tried after the others."""
        with self._lock:
            if time.monotonic() - self._resolved_at >= RESOLVE_EVERY_SECONDS:
                self._addresses = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                self._resolved_at = time.monotonic()
            return self._addresses[0]

    def _demote(self, address: Any) -> None:
        with self._lock:
            found = [entry for entry in self._addresses if entry[4] == address]
            if found and len(self._addresses) > 1:
                self._addresses = [e for e in self._addresses if e[4] != address] + found

    def _open(self) -> _Connection:
        """A connection whose TCP connect has begun (raises :exc:`TransportError`)."""
        try:
            family, kind, proto, _, address = self._address()
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise TransportError("NewConnectionError", str(exc)) from None
        try:
            for option in self._socket_options:
                sock.setsockopt(*option)
            sock.setblocking(False)
            result = sock.connect_ex(address)
        except OSError as exc:
            sock.close()
            raise TransportError("NewConnectionError", str(exc)) from None
        if result not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            sock.close()
            self._demote(address)
            raise TransportError("NewConnectionError", errno.errorcode.get(result, str(result)))
        return _Connection(sock, connecting=True, address=address)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # ---------------------------------------------------------------- the loop

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
        return _Round(self, requests, max(1, concurrency), pace).run()

    def _step(self, connection: _Connection) -> Response | TransportError | None:
        """Advance ``connection`` on a ready event: its outcome once it has one."""
        try:
            if connection.connecting:
                return self._connected(connection)
            if connection.handshaking:
                return self._handshake(connection)
            if connection.out:
                return self._send(connection)
            return self._receive(connection)
        except ssl.SSLError as exc:
            return TransportError("SSLError", str(exc))
        except (h11.ProtocolError, OSError) as exc:  # a reset, a broken pipe, bad framing
            return TransportError("ProtocolError", str(exc))

    def _connected(self, connection: _Connection) -> Response | TransportError | None:
        result = connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if result:
            self._demote(connection.address)
            return TransportError("NewConnectionError", errno.errorcode.get(result, str(result)))
        connection.connecting = False
        if self._tls_factory is not None:
            if self._tls is None:
                self._tls = self._tls_factory()
            connection.sock = self._tls.wrap_socket(
                connection.sock, server_hostname=self.host, do_handshake_on_connect=False
            )
            connection.handshaking = True
            return self._handshake(connection)
        return self._ready(connection)

    def _handshake(self, connection: _Connection) -> Response | TransportError | None:
        sock = connection.sock
        assert isinstance(sock, ssl.SSLSocket)
        if _would_block(connection, WRITE, sock.do_handshake) is BLOCKED:
            return None
        connection.handshaking = False
        return self._ready(connection)

    def _ready(self, connection: _Connection) -> Response | TransportError | None:
        """Connected (and TLS set up): the response is now due within the read timeout."""
        connection.deadline = time.monotonic() + self.read_timeout
        return self._send(connection)

    def _send(self, connection: _Connection) -> Response | TransportError | None:
        while connection.out:
            sent = _would_block(connection, WRITE, connection.sock.send, connection.out)
            if sent is BLOCKED:
                return None
            connection.out = connection.out[sent:]
        connection.interest = READ
        return None

    def _receive(self, connection: _Connection) -> Response | TransportError | None:
        sock = connection.sock
        connection.interest = READ
        while True:
            data = _would_block(connection, READ, sock.recv, 65536)
            if data is BLOCKED:
                return None
            connection.http.receive_data(data)
            outcome = self._events(connection)
            if outcome is not None or not data:
                return outcome or TransportError("ProtocolError", "connection closed")
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return None

    @staticmethod
    def _events(connection: _Connection) -> Response | None:
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


class _Round:
    """One :meth:`Multiplexer.exchange`: its selector and the connections in flight."""

    def __init__(
        self,
        multiplexer: Multiplexer,
        requests: Iterator[Request],
        concurrency: int,
        pace: Callable[[], float] | None,
    ) -> None:
        self.multiplexer = multiplexer
        self.requests = requests
        self.concurrency = concurrency
        self.pace = pace
        self.held: tuple[Request, float] | None = None  # paced: not to start before then
        self.selector = selectors.DefaultSelector()
        self.active: dict[int, _Connection] = {}  # by file descriptor

    def run(self) -> Iterator[tuple[str, Response | Exception]]:
        selector, active = self.selector, self.active
        spare: _Connection | None = None  # finished, reusable, not yet given a request
        try:
            yield from self.refill()
            while active or self.held is not None:
                wait = min((c.deadline for c in active.values()), default=float("inf"))
                if self.held is not None:
                    wait = min(wait, self.held[1])
                wait = max(0.0, wait - time.monotonic())
                for key, _events in selector.select(wait):
                    connection: _Connection = key.data
                    outcome = self.multiplexer._step(connection)
                    if outcome is None:
                        if connection.interest != key.events:
                            selector.modify(connection.sock, connection.interest, connection)
                        continue
                    key_and_outcome = self.finish(connection, outcome)
                    if isinstance(outcome, Response) and _reusable(connection):
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

    def finish(
        self, connection: _Connection, outcome: Response | Exception
    ) -> tuple[str, Response | Exception]:
        """Take ``connection`` out of the selector; its request's key and outcome."""
        request = connection.request
        assert request is not None
        self.selector.unregister(connection.sock)
        del self.active[connection.sock.fileno()]
        return request.key, outcome

    def expire(self) -> Iterator[tuple[str, Response | Exception]]:
        """Fail the requests past their deadline (their connections are closed)."""
        now = time.monotonic()
        for connection in [c for c in self.active.values() if c.deadline <= now]:
            waiting = connection.connecting or connection.handshaking
            code = "ConnectTimeoutError" if waiting else "ReadTimeoutError"
            key_and_outcome = self.finish(connection, TransportError(code))
            connection.close()
            yield key_and_outcome
        yield from self.refill()

    def next_request(self) -> Request | None:
        """The next request that may start now (None: none left, or a paced one waits)."""
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

    def refill(
        self, connection: _Connection | None = None
    ) -> Iterator[tuple[str, Response | Exception]]:
        """Start requests until ``concurrency`` are in flight or none may start, on
        ``connection`` first (a finished, reusable one), then idle ones, then new ones.
        A request that cannot start is reported at once with its error."""
        multiplexer = self.multiplexer
        try:
            while len(self.active) < self.concurrency:
                request = self.next_request()
                if request is None:
                    break
                if request.error is not None:
                    yield request.key, request.error
                    continue
                if connection is not None and not _still_open(connection.sock):
                    connection.close()  # the server closed it after its last answer
                    connection = None
                if connection is None:
                    connection = multiplexer._take_idle()
                if connection is None:
                    try:
                        connection = multiplexer._open()
                    except TransportError as exc:
                        yield request.key, exc
                        continue
                try:
                    _begin(
                        connection,
                        request,
                        time.monotonic(),
                        multiplexer.connect_timeout,
                        multiplexer.read_timeout,
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
                multiplexer._give_back(connection)


class _Wait(enum.Enum):
    BLOCKED = "blocked"


BLOCKED: Final = _Wait.BLOCKED  # what :func:`_would_block` returns when the call must wait


def _would_block[T](
    connection: _Connection, waits_for: int, call: Callable[..., T], *args: Any
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


def _begin(
    connection: _Connection,
    request: Request,
    now: float,
    connect_timeout: float,
    read_timeout: float,
) -> None:
    http = connection.http
    connection.request = request
    connection.response = None
    connection.out = (
        http.send(
            h11.Request(method=request.method, target=request.target, headers=request.headers)
        )
        + (http.send(h11.Data(data=request.body)) if request.body else b"")
        + http.send(h11.EndOfMessage())
    )
    waiting = connection.connecting or connection.handshaking
    connection.deadline = now + (connect_timeout if waiting else read_timeout)
    connection.interest = WRITE


def _reusable(connection: _Connection) -> bool:
    http = connection.http
    if http.our_state is h11.DONE and http.their_state is h11.DONE:
        http.start_next_cycle()
        return True
    return False


def _still_open(sock: socket.socket) -> bool:
    """A connection between requests is usable while it has nothing to read (no EOF,
    no stray bytes); one ``poll`` call, no blocking."""
    probe = select.poll()
    probe.register(sock, select.POLLIN)
    return not probe.poll(0)
