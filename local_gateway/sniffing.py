"""One port for two protocols: every TCP connection starts here, and its request head decides.

:class:`SniffingConnection` (websockets' ``create_connection`` hook, the documented way to
customise the connection class) reads the head before websockets sees a byte: a WebSocket
handshake goes on to websockets (the opening handshake, frames, limits); any other request is
served by :mod:`local_gateway.http11` through the host's ``handle_http``. Over a size limit
it closes with API Gateway's reason ("Message too big") instead of websockets' text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, ClassVar, Protocol

from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode

from local_gateway import events, http11

__all__ = ["TOO_BIG_REASON", "ConnectionHost", "SniffingConnection", "is_websocket_handshake"]

TOO_BIG_REASON = "Message too big"
SNIFF_TIMEOUT = 10.0


class ConnectionHost(Protocol):
    """What a sniffing connection needs of the gateway that accepted it."""

    plain_transports: set[asyncio.Transport]  # HTTP, or not sniffed yet

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def handle_http(self, request: http11.Request) -> Awaitable[http11.Response]: ...


class SniffingConnection(ServerConnection):
    """Reads the request head, then hands the socket to websockets or to the HTTP side."""

    host: ClassVar[ConnectionHost]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head = bytearray()
        self._mode: str | None = None
        self._http_reader: asyncio.StreamReader | None = None
        self._sniff_timer = self.loop.call_later(SNIFF_TIMEOUT, self._sniff_timeout)
        self.host.plain_transports.add(self.transport)
        self._fail_as_api_gateway()
        self.gateway_info: events.ConnectionInfo | None = None
        self.gateway_subprotocol: str | None = None

    @classmethod
    def for_host(cls, host: ConnectionHost) -> type[SniffingConnection]:
        """A connection class bound to ``host`` (websockets instantiates it per socket)."""
        return type("GatewayConnection", (cls,), {"host": host})

    def _fail_as_api_gateway(self) -> None:
        """Close over a size limit with API Gateway's reason instead of websockets' text
        (which names the sizes); every other failure is websockets' own."""
        fail = self.protocol.fail

        def fail_as_api_gateway(code: int, reason: str = "") -> None:
            fail(code, TOO_BIG_REASON if code == CloseCode.MESSAGE_TOO_BIG else reason)

        self.protocol.fail = fail_as_api_gateway  # type: ignore[method-assign]

    def _sniff_timeout(self) -> None:
        if self._mode is None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._mode == "websocket":
            super().data_received(data)
            return
        if self._mode == "http":
            assert self._http_reader is not None
            self._http_reader.feed_data(data)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0 and len(self._head) <= http11.MAX_HEAD:
            return
        self._sniff_timer.cancel()
        buffered, self._head = bytes(self._head), bytearray()
        if is_websocket_handshake(buffered[: max(end, 0)]):
            self._mode = "websocket"
            self.host.plain_transports.discard(self.transport)
            super().data_received(buffered)
            return
        self._mode = "http"
        self._http_reader = asyncio.StreamReader(limit=http11.MAX_HEAD)
        self._http_reader.feed_data(buffered)
        peer = self.transport.get_extra_info("peername") or ("127.0.0.1", 0)
        self.host.spawn(
            http11.serve_http(
                self._http_reader, self.transport, str(peer[0]), self.host.handle_http
            )
        )

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol's
        if self._mode == "http":
            assert self._http_reader is not None
            self._http_reader.feed_eof()
            return True  # keep the transport open for the last answer
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._sniff_timer.cancel()
        self.host.plain_transports.discard(self.transport)
        if self._http_reader is not None:
            self._http_reader.feed_eof()
        super().connection_lost(exc)


def is_websocket_handshake(head: bytes) -> bool:
    """Whether a request head (without its blank line) is a WebSocket upgrade."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"GET "):
        return False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False
