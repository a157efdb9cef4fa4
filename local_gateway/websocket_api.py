"""The WebSocket API's routes, as API Gateway runs them: ``$connect``, messages, ``$disconnect``.

- ``$connect``: the handler's ``statusCode`` outside 2xx refuses the handshake with that
  status; ``Sec-WebSocket-Protocol`` is echoed only when the handler returns it.
- Messages: text frames are routed by the route selection expression (fallback ``$default``);
  a binary frame closes with 1003; a handler error sends
  ``{"message": "Internal server error", "connectionId": .., "requestId": ..}``.
- ``$disconnect`` runs once per connection, with the close code and reason, however it ended.

:class:`WebSocketRoutes` owns the table of live connections; the port, the timeouts and the
background tasks belong to :class:`~local_gateway.server.Gateway`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, cast

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request as HandshakeRequest
from websockets.http11 import Response as HandshakeResponse
from websockets.typing import Subprotocol

from local_gateway import events
from local_gateway.connections import LiveConnection, close_status, send_quietly
from local_gateway.eventlog import EventLog
from local_gateway.local_aws import LOCAL_API_ID
from local_gateway.proxy import log_invocation_error, millis_since, websocket_result
from local_gateway.routing import select_websocket_route
from local_gateway.sniffing import SniffingConnection
from local_gateway.template import WebSocketApiSpec
from local_gateway.workers import InvocationError, Workers

__all__ = ["WebSocketRoutes"]

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class WebSocketRoutes:
    """Runs a WebSocket API's route functions over the connections it tracks."""

    def __init__(self, api: WebSocketApiSpec, workers: Workers, log: EventLog, spawn: Spawn):
        self.api = api
        self.workers = workers
        self.log = log
        self.spawn = spawn
        self.connections: dict[str, LiveConnection] = {}
        self.handlers: set[asyncio.Task[Any]] = set()  # one per open WebSocket

    def _route_function(self, route_key: str) -> str | None:
        return self.api.routes.get(route_key)

    async def process_request(
        self, websocket: ServerConnection, request: HandshakeRequest
    ) -> HandshakeResponse | None:
        """websockets' ``process_request``: the stage path, then ``$connect``'s answer."""
        connection = cast(SniffingConnection, websocket)
        path, _, query = request.path.partition("?")
        if path.rstrip("/") not in ("", f"/{self.api.stage}"):
            return _reject(websocket, 403, {"message": "Forbidden"})
        now = events.epoch_millis()
        peer = websocket.remote_address or ("127.0.0.1", 0)
        info = events.ConnectionInfo(
            connection_id=events.new_id(),
            api_id=LOCAL_API_ID,
            stage=self.api.stage,
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
            log_invocation_error(
                self.log, "CONNECT", info.connection_id, function, exc, started=started
            )
            return _reject(websocket, 500, {"message": "Internal server error"})
        status, headers, body = websocket_result(result)
        self.log.event("CONNECT", info.connection_id, function, status, millis_since(started))
        if not 200 <= status < 300:
            return websocket.respond(status, body)
        connection.gateway_subprotocol = headers.get("sec-websocket-protocol")
        return None

    def select_subprotocol(
        self, websocket: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        """The subprotocol that ``$connect`` returned, whatever the client offered (as AWS)."""
        chosen = cast(SniffingConnection, websocket).gateway_subprotocol
        return Subprotocol(chosen) if chosen else None

    async def handle(self, websocket: ServerConnection) -> None:
        """websockets' connection handler: messages until the close, then ``$disconnect``."""
        info = cast(SniffingConnection, websocket).gateway_info
        assert info is not None
        now = time.monotonic()
        live = LiveConnection(info, websocket, opened=now, last_active=now)
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        task.add_done_callback(self.handlers.discard)
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
        code, reason = close_status(live)
        await self._disconnect(live, code, reason)

    async def _disconnect(self, live: LiveConnection, code: int, reason: str) -> None:
        function = self._route_function("$disconnect")
        connection_id = live.info.connection_id
        if function is None:
            self.log.event("DISCONNECT", connection_id, "(no route)", code)
            return
        event = events.disconnect_event(live.info, code, reason)
        started = time.monotonic()
        try:
            await self.workers[function].invoke(event)
        except InvocationError as exc:
            log_invocation_error(
                self.log, "DISCONNECT", connection_id, function, exc, started=started
            )
            return
        self.log.event(
            "DISCONNECT", connection_id, f"{function} code={code}", "ok", millis_since(started)
        )

    async def _dispatch(self, live: LiveConnection, body: str) -> None:
        routes = self.api.routes
        route_key = select_websocket_route(self.api.route_selection_expression, body, routes)
        event = events.message_event(live.info, route_key or "$default", body)
        connection_id = live.info.connection_id
        request_id = event["requestContext"]["requestId"]
        if route_key is None:
            self.log.event("MESSAGE", connection_id, "no route", 403)
            await send_quietly(
                live,
                {"message": "Forbidden", "connectionId": connection_id, "requestId": request_id},
            )
            return
        function = routes[route_key]
        started = time.monotonic()
        try:
            await self.workers[function].invoke(event)
        except InvocationError as exc:
            log_invocation_error(self.log, "MESSAGE", connection_id, function, exc, started=started)
            await send_quietly(
                live,
                {
                    "message": "Internal server error",
                    "connectionId": connection_id,
                    "requestId": request_id,
                },
            )
            return
        self.log.event(
            "MESSAGE", connection_id, f"{route_key} -> {function}", "ok", millis_since(started)
        )


def _reject(websocket: ServerConnection, status: int, payload: Any) -> HandshakeResponse:
    response = websocket.respond(status, json.dumps(payload))
    response.headers["Content-Type"] = "application/json"
    return response
