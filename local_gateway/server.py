"""The gateway: one port for WebSocket clients, the Management API and HTTP routes.

Every TCP connection starts in :class:`_GatewayConnection`, which reads the request head: a
WebSocket handshake goes on to websockets (the opening handshake, frames, limits); any other
request is answered by :mod:`local_gateway.http11` (``@connections``, HTTP API routes, the
development pages). websockets' ``create_connection`` hook is the documented way to customise
the connection class; the head is sniffed before websockets sees a byte.

API Gateway's behaviour reproduced here:
- ``$connect``: the handler's ``statusCode`` outside 2xx refuses the handshake with that
  status; ``Sec-WebSocket-Protocol`` is echoed only when the handler returns it.
- Messages: text frames are routed by the route selection expression (fallback ``$default``);
  a binary frame closes with 1003; a message over 128 KB, or a single frame over 32 KB,
  closes with 1009 ("Message too big", as API Gateway's close frame reads); a handler error
  sends ``{"message": "Internal server error", "connectionId": .., "requestId": ..}``.
- ``$disconnect`` runs on a client close, on ``DELETE @connections``, on the idle timeout and
  on the maximum connection duration, with the close code and reason.
- No permessage-deflate and no server pings: API Gateway negotiates neither.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request as HandshakeRequest
from websockets.http11 import Response as HandshakeResponse
from websockets.typing import Subprotocol

from local_gateway import events, http11
from local_gateway.eventlog import EventLog
from local_gateway.faults import Faults
from local_gateway.management import ManagementApi
from local_gateway.routing import HttpRouter, select_websocket_route
from local_gateway.static import DevPages
from local_gateway.template import LOCAL_API_ID, LOCAL_HTTP_API_ID, Application
from local_gateway.workers import InvocationError, Workers

__all__ = ["Gateway", "LiveConnection"]

# API Gateway's WebSocket quotas (tests/aws_artefacts/apigateway_quotas.json): a larger
# message, or a larger single frame, closes the connection with 1009.
MAX_MESSAGE = 128 * 1024
MAX_FRAME = 32 * 1024
TOO_BIG_REASON = "Message too big"
SNIFF_TIMEOUT = 10.0
IDLE_REASON = "Going away"


@dataclasses.dataclass(eq=False)
class LiveConnection:
    """An open WebSocket connection, as the gateway tracks it."""

    info: events.ConnectionInfo
    websocket: ServerConnection
    opened: float  # monotonic
    last_active: float  # monotonic
    close_cause: tuple[int, str] | None = None
    closing: asyncio.Task[None] | None = None

    def close(self, code: int, reason: str) -> None:
        """Start closing from the gateway's side; ``$disconnect`` reports ``code``."""
        if self.close_cause is None:
            self.close_cause = (code, reason)
            self.closing = asyncio.get_running_loop().create_task(
                self.websocket.close(code, reason)
            )


class _GatewayConnection(ServerConnection):
    """Reads the request head, then hands the socket to websockets or to the HTTP side."""

    gateway: ClassVar[Gateway]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head = bytearray()
        self._mode: str | None = None
        self._http_reader: asyncio.StreamReader | None = None
        self._sniff_timer = self.loop.call_later(SNIFF_TIMEOUT, self._sniff_timeout)
        self.gateway.plain_transports.add(self.transport)
        self._fail_as_api_gateway()
        self.gateway_info: events.ConnectionInfo | None = None
        self.gateway_subprotocol: str | None = None

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
        if _is_websocket_handshake(buffered[: max(end, 0)]):
            self._mode = "websocket"
            self.gateway.plain_transports.discard(self.transport)
            super().data_received(buffered)
            return
        self._mode = "http"
        self._http_reader = asyncio.StreamReader(limit=http11.MAX_HEAD)
        self._http_reader.feed_data(buffered)
        peer = self.transport.get_extra_info("peername") or ("127.0.0.1", 0)
        self.gateway.spawn(
            http11.serve_http(
                self._http_reader, self.transport, str(peer[0]), self.gateway.handle_http
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
        self.gateway.plain_transports.discard(self.transport)
        if self._http_reader is not None:
            self._http_reader.feed_eof()
        super().connection_lost(exc)


def _is_websocket_handshake(head: bytes) -> bool:
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"GET "):
        return False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"upgrade" and b"websocket" in value.lower():
            return True
    return False


class Gateway:
    """Serves one application's WebSocket API (and HTTP API routes) on one port."""

    def __init__(
        self,
        app: Application,
        workers: Workers,
        log: EventLog,
        *,
        idle_timeout: float,
        max_duration: float,
        dev_pages: DevPages | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.app = app
        self.workers = workers
        self.log = log
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.dev_pages = dev_pages
        self.connections: dict[str, LiveConnection] = {}
        self.http_router = HttpRouter(app.http_routes)
        self.management = ManagementApi(self.connections, log, app.websocket_api.stage, faults)
        self.plain_transports: set[asyncio.Transport] = set()  # HTTP, or not sniffed yet
        self._tasks: set[asyncio.Task[Any]] = set()
        self._websocket_tasks: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None

    # ------------------------------------------------------------ lifecycle

    def spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._report_failure)
        return task

    def _report_failure(self, task: asyncio.Task[Any]) -> None:
        """No task dies silently: a failure is a gateway bug, logged with its traceback."""
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        assert error is not None
        self.log.line(
            f"gateway task {task.get_coro()!r} failed:\n"
            + "".join(traceback.format_exception(error)).rstrip()
        )

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0)."""
        connection_class = type("GatewayConnection", (_GatewayConnection,), {"gateway": self})
        self._server = await serve(
            self._websocket_handler,
            host,
            port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            compression=None,
            max_size=(MAX_MESSAGE, MAX_FRAME),  # websockets: (message, fragment)
            ping_interval=None,
            open_timeout=None,
            close_timeout=5,
            server_header=None,
            create_connection=connection_class,
        )
        self.spawn(self._enforce_timeouts())
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, timeout: float = 10.0) -> None:
        """Stop listening, close every WebSocket (running ``$disconnect``), then the rest."""
        if self._server is None:
            return
        self._server.close(close_connections=False)
        for connection in list(self.connections.values()):
            connection.close(CloseCode.GOING_AWAY, "Going away")
        if self._websocket_tasks:
            await asyncio.wait(self._websocket_tasks, timeout=timeout)
        # Keep-alive HTTP connections (the functions' boto3 pools) never close by themselves.
        for transport in list(self.plain_transports):
            transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _enforce_timeouts(self) -> None:
        interval = max(0.05, min(1.0, self.idle_timeout / 4, self.max_duration / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for connection in list(self.connections.values()):
                if connection.close_cause is not None:
                    continue
                if (
                    now - connection.opened >= self.max_duration
                    or now - connection.last_active >= self.idle_timeout
                ):
                    connection.close(CloseCode.GOING_AWAY, IDLE_REASON)

    # ------------------------------------------------------------ WebSocket

    def _route_function(self, route_key: str) -> str | None:
        return self.app.websocket_api.routes.get(route_key)

    async def _process_request(
        self, websocket: ServerConnection, request: HandshakeRequest
    ) -> HandshakeResponse | None:
        connection = cast(_GatewayConnection, websocket)
        path, _, query = request.path.partition("?")
        stage = self.app.websocket_api.stage
        if path.rstrip("/") not in ("", f"/{stage}"):
            return _reject(websocket, 403, {"message": "Forbidden"})
        now = events.epoch_millis()
        peer = websocket.remote_address or ("127.0.0.1", 0)
        info = events.ConnectionInfo(
            connection_id=events.new_id(),
            api_id=LOCAL_API_ID,
            stage=stage,
            domain_name=request.headers.get("Host", "localhost"),
            source_ip=str(peer[0]),
            user_agent=request.headers.get("User-Agent"),
            connected_at=now,
            last_active_at=now,
            headers=list(request.headers.raw_items()),
            query=query,
        )
        connection.gateway_info = info
        function = self._route_function("$connect")
        if function is None:
            return None
        event = events.connect_event(info, now)
        started = time.monotonic()
        try:
            result = await self.workers[function].invoke(event)
        except InvocationError as exc:
            self._log_error("CONNECT", info.connection_id, function, exc, started)
            return _reject(websocket, 500, {"message": "Internal server error"})
        status, headers, body = _proxy_result(result)
        self.log.event("CONNECT", info.connection_id, function, status, _millis(started))
        if not 200 <= status < 300:
            return websocket.respond(status, body)
        connection.gateway_subprotocol = headers.get("sec-websocket-protocol")
        return None

    def _select_subprotocol(
        self, websocket: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The subprotocol that ``$connect`` returned, whatever the client offered (as AWS)."""
        chosen = cast(_GatewayConnection, websocket).gateway_subprotocol
        return Subprotocol(chosen) if chosen else None

    async def _websocket_handler(self, websocket: ServerConnection) -> None:
        info = cast(_GatewayConnection, websocket).gateway_info
        assert info is not None
        now = time.monotonic()
        live = LiveConnection(info, websocket, opened=now, last_active=now)
        task = asyncio.current_task()
        assert task is not None
        self._websocket_tasks.add(task)
        task.add_done_callback(self._websocket_tasks.discard)
        self.connections[info.connection_id] = live
        try:
            async for message in websocket:
                live.last_active = time.monotonic()
                info.last_active_at = events.epoch_millis()
                if isinstance(message, bytes):
                    live.close(CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported")
                    break
                self.spawn(self._dispatch(live, message))
        except ConnectionClosed:
            pass
        finally:
            self.connections.pop(info.connection_id, None)
        with contextlib.suppress(ConnectionClosed):
            await websocket.wait_closed()
        code, reason = _close_status(live)
        await self._disconnect(live, code, reason)

    async def _disconnect(self, live: LiveConnection, code: int, reason: str) -> None:
        function = self._route_function("$disconnect")
        if function is None:
            self.log.event("DISCONNECT", live.info.connection_id, "(no route)", code)
            return
        event = events.disconnect_event(live.info, code, reason)
        started = time.monotonic()
        try:
            await self.workers[function].invoke(event)
        except InvocationError as exc:
            self._log_error("DISCONNECT", live.info.connection_id, function, exc, started)
            return
        self.log.event(
            "DISCONNECT", live.info.connection_id, f"{function} code={code}", "ok", _millis(started)
        )

    async def _dispatch(self, live: LiveConnection, body: str) -> None:
        routes = self.app.websocket_api.routes
        route_key = select_websocket_route(
            self.app.websocket_api.route_selection_expression, body, routes
        )
        event_route = route_key or "$default"
        event = events.message_event(live.info, event_route, body)
        request_id = event["requestContext"]["requestId"]
        if route_key is None:
            self.log.event("MESSAGE", live.info.connection_id, "no route", 403)
            await _send_quietly(
                live,
                {
                    "message": "Forbidden",
                    "connectionId": live.info.connection_id,
                    "requestId": request_id,
                },
            )
            return
        function = routes[route_key]
        started = time.monotonic()
        try:
            await self.workers[function].invoke(event)
        except InvocationError as exc:
            self._log_error("MESSAGE", live.info.connection_id, function, exc, started)
            await _send_quietly(
                live,
                {
                    "message": "Internal server error",
                    "connectionId": live.info.connection_id,
                    "requestId": request_id,
                },
            )
            return
        self.log.event(
            "MESSAGE",
            live.info.connection_id,
            f"{route_key} -> {function}",
            "ok",
            _millis(started),
        )

    def _log_error(
        self, kind: str, subject: str, function: str, exc: InvocationError, started: float
    ) -> None:
        self.log.event(
            kind, subject, f"{function} {exc.error_type}: {exc}", "error", _millis(started)
        )

    # ------------------------------------------------------------ HTTP

    async def handle_http(self, request: http11.Request) -> http11.Response:
        """Answer one plain HTTP request."""
        answer = await self.management.handle(request)
        if answer is not None:
            return answer
        if self.dev_pages is not None:
            answer = self.dev_pages.handle(request)
            if answer is not None:
                return answer
        found = self.http_router.match(request.method, request.path)
        if found is None:
            return http11.json_response(404, {"message": "Not Found"})
        route, parameters = found
        event = events.http_api_event(
            route_key=route.route_key,
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.query,
            headers=request.headers,
            body=request.body,
            path_parameters=parameters,
            api_id=LOCAL_HTTP_API_ID,
            stage="$default",
            source_ip=request.peer,
        )
        started = time.monotonic()
        try:
            result = await self.workers[route.function].invoke(event)
        except InvocationError as exc:
            self._log_error("HTTP", request.raw_path, route.function, exc, started)
            return http11.json_response(500, {"message": "Internal Server Error"})
        response = _http_api_response(result)
        self.log.event(
            "HTTP",
            f"{request.method} {request.raw_path}",
            f"-> {route.function}",
            response.status,
            _millis(started),
        )
        return response


def _millis(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _reject(websocket: ServerConnection, status: int, payload: Any) -> HandshakeResponse:
    response = websocket.respond(status, json.dumps(payload))
    response.headers["Content-Type"] = "application/json"
    return response


def _lower_headers(result: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(key).lower(): str(value) for key, value in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(key).lower()] = ", ".join(str(value) for value in values)
    return headers


def _proxy_result(result: Any) -> tuple[int, dict[str, str], str]:
    """A WebSocket route's Lambda proxy answer: status (200 when absent), headers, body."""
    if not isinstance(result, dict):
        return 200, {}, ""
    status = int(result.get("statusCode", 200))
    body = result.get("body")
    return status, _lower_headers(result), body if isinstance(body, str) else ""


def _http_api_response(result: Any) -> http11.Response:
    """Payload format 2.0's answer, including its inference for answers without statusCode."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return http11.Response(200, body.encode(), [("Content-Type", "application/json")])
    headers = [(name, value) for name, value in _lower_headers(result).items()]
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw = result.get("body") or ""
    if result.get("isBase64Encoded"):
        payload = base64.b64decode(raw)
    else:
        payload = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return http11.Response(int(result["statusCode"]), payload, headers)


def _close_status(live: LiveConnection) -> tuple[int, str]:
    """The code and reason that ``$disconnect`` reports."""
    if live.close_cause is not None:
        return live.close_cause
    protocol = live.websocket.protocol
    if protocol.close_sent is not None and not protocol.close_rcvd_then_sent:
        # The server side closed first: a message over the size limit, for instance.
        return int(protocol.close_sent.code), protocol.close_sent.reason
    if protocol.close_rcvd is not None:
        return int(protocol.close_rcvd.code), protocol.close_rcvd.reason
    return int(CloseCode.ABNORMAL_CLOSURE), "Connection closed abnormally"


async def _send_quietly(live: LiveConnection, payload: Mapping[str, Any]) -> None:
    with contextlib.suppress(ConnectionClosed):
        await live.websocket.send(json.dumps(payload))
