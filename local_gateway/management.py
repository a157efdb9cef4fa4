"""The Management API (``@connections``), answering as API Gateway does.

``POST`` sends the body to the client as one frame, ``GET`` describes the connection,
``DELETE`` closes it (``$disconnect`` then runs). Unknown or closed ids get 410 with
``x-amzn-ErrorType: GoneException``, which botocore turns into ``GoneException``; a body over
128 KB gets 413 ``PayloadTooLargeException``. Requests are not signature-checked locally.
Paths: ``/@connections/{id}`` and ``/{stage}/@connections/{id}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from local_gateway import events
from local_gateway.connections import LiveConnection
from local_gateway.eventlog import EventLog
from local_gateway.faults import Faults
from local_gateway.http11 import Request, Response, json_response

__all__ = ["ManagementApi"]

MAX_POST = 128 * 1024


def _error(status: int, error_type: str, message: str | None) -> Response:
    return json_response(
        status, {"message": message}, [("x-amzn-ErrorType", error_type), *_request_id()]
    )


def _request_id() -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", events.new_id())]


class ManagementApi:
    """``@connections`` over the gateway's live connections."""

    def __init__(
        self,
        connections: Mapping[str, LiveConnection],
        log: EventLog,
        stage: str,
        faults: Faults | None = None,
    ) -> None:
        self.connections = connections
        self.faults = faults  # injected failures (local_gateway.faults), when on
        self.log = log
        self.pattern = re.compile(rf"^(?:/{re.escape(stage)})?/@connections/(?P<id>[^/]+)/?$")

    async def handle(self, request: Request) -> Response | None:
        """The answer, or None when the request is not for the Management API."""
        found = self.pattern.match(request.path)
        if found is None:
            if "@connections" in request.path:
                return _error(403, "ForbiddenException", "Forbidden")
            return None
        connection_id = found.group("id")
        live = self.connections.get(connection_id)
        method = request.method
        if method not in ("POST", "GET", "DELETE"):
            return _error(403, "ForbiddenException", "Forbidden")
        if method == "POST" and len(request.body) > MAX_POST:
            self.log.detail("@connections", connection_id, "POST", 413)
            return _error(413, "PayloadTooLargeException", "Message too long")
        if live is None or live.close_cause is not None:
            self.log.detail("@connections", connection_id, method, 410)
            return _error(410, "GoneException", None)
        if method == "POST":
            return await self._post(live, request.body)
        if method == "GET":
            return self._get(live)
        live.close(CloseCode.NORMAL_CLOSURE, "")
        self.log.event("DELETE", connection_id, "@connections", 204)
        return Response(204, headers=_request_id())

    async def _post(self, live: LiveConnection, body: bytes) -> Response:
        if self.faults is not None:
            fault = await self.faults.before_post(live, body)
            if fault is not None:
                self.log.detail("@connections", live.info.connection_id, "POST", fault[0])
                return _error(fault[0], fault[1], None)
        data: str | bytes
        try:
            data = body.decode()
        except UnicodeDecodeError:
            data = body
        try:
            await live.websocket.send(data)
        except ConnectionClosed:
            return _error(410, "GoneException", None)
        self.log.detail("@connections", live.info.connection_id, "POST", 200)
        return Response(200, headers=[("Content-Type", "application/json"), *_request_id()])

    def _get(self, live: LiveConnection) -> Response:
        info = live.info
        payload: dict[str, Any] = {
            "connectedAt": events.iso8601(info.connected_at),
            "identity": {"sourceIp": info.source_ip, "userAgent": info.user_agent or ""},
            "lastActiveAt": events.iso8601(info.last_active_at),
        }
        return json_response(200, payload, _request_id())
