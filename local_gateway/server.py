"""The gateway: one port for WebSocket clients, the Management API and HTTP routes.

:class:`Gateway` owns the port and what outlives one request: it listens (every TCP
connection starts in :class:`~local_gateway.sniffing.SniffingConnection`, which hands a
WebSocket handshake to websockets and anything else to the HTTP side), runs background
tasks (none dies silently), enforces the idle timeout and the maximum connection duration,
and closes everything on shutdown. The WebSocket routes are
:class:`~local_gateway.websocket_api.WebSocketRoutes`'; ``@connections`` is
:class:`~local_gateway.management.ManagementApi`'s; HTTP API routes and the development
pages are answered here.

API Gateway's limits reproduced here: a message over 128 KB, or a single frame over 32 KB,
closes with 1009 ("Message too big", as API Gateway's close frame reads); no
permessage-deflate and no server pings (API Gateway negotiates neither); ``$disconnect``
runs on a client close, on ``DELETE @connections``, on the idle timeout and on the maximum
connection duration, with the close code and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import Server, serve
from websockets.frames import CloseCode

from local_gateway import events, http11
from local_gateway.connections import LiveConnection
from local_gateway.eventlog import EventLog
from local_gateway.faults import Faults
from local_gateway.local_aws import LOCAL_HTTP_API_ID
from local_gateway.management import ManagementApi
from local_gateway.proxy import http_api_response, log_invocation_error, millis_since
from local_gateway.routing import HttpRouter
from local_gateway.sniffing import SniffingConnection
from local_gateway.static import DevPages
from local_gateway.template import Application
from local_gateway.websocket_api import WebSocketRoutes
from local_gateway.workers import InvocationError, Workers

__all__ = ["Gateway", "LiveConnection"]

# API Gateway's WebSocket quotas (tests/aws_artefacts/apigateway_quotas.json): a larger
# message, or a larger single frame, closes the connection with 1009.
MAX_MESSAGE = 128 * 1024
MAX_FRAME = 32 * 1024
IDLE_REASON = "Going away"


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
        self.websocket = WebSocketRoutes(app.websocket_api, workers, log, self.spawn)
        self.connections = self.websocket.connections
        self.http_router = HttpRouter(app.http_routes)
        self.management = ManagementApi(self.connections, log, app.websocket_api.stage, faults)
        self.plain_transports: set[asyncio.Transport] = set()  # HTTP, or not sniffed yet
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None

    # ------------------------------------------------------------ lifecycle

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
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
        self._server = await serve(
            self.websocket.handle,
            host,
            port,
            process_request=self.websocket.process_request,
            select_subprotocol=self.websocket.select_subprotocol,
            compression=None,
            max_size=(MAX_MESSAGE, MAX_FRAME),  # websockets: (message, fragment)
            ping_interval=None,
            open_timeout=None,
            close_timeout=5,
            server_header=None,
            create_connection=SniffingConnection.for_host(self),
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
        if self.websocket.handlers:
            await asyncio.wait(self.websocket.handlers, timeout=timeout)
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

    # ------------------------------------------------------------ HTTP

    async def handle_http(self, request: http11.Request) -> http11.Response:
        """Answer one plain HTTP request: ``@connections``, a dev page, or an HTTP API route."""
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
            log_invocation_error(
                self.log, "HTTP", request.raw_path, route.function, exc, started=started
            )
            return http11.json_response(500, {"message": "Internal Server Error"})
        response = http_api_response(result)
        self.log.event(
            "HTTP",
            f"{request.method} {request.raw_path}",
            f"-> {route.function}",
            response.status,
            millis_since(started),
        )
        return response
