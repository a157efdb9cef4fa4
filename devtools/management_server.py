"""A small HTTP/1.1 server on 127.0.0.1 that answers ``@connections`` like API Gateway.

Used by the delivery tests (both engines, over real sockets) and by the benchmarks, in
a background thread or as its own process (``python -m devtools.management_server``).
It keeps connections alive, optionally delays every answer, and answers as API Gateway
does: 410 ``GoneException`` for gone ids, 429 ``LimitExceededException`` for ids
throttled once, 413 ``PayloadTooLargeException`` over 128 KB, 403
``ForbiddenException`` for an unsigned request when signatures are required.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import ssl
import threading
from collections import Counter, defaultdict
from urllib.parse import unquote

MAX_POST = 128 * 1024
PATH = re.compile(r"^(?:/[^/@]+)?/@connections/(?P<id>[^/?]+)/?$")
REASONS = {
    200: "OK",
    204: "No Content",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    413: "Payload Too Large",
    429: "Too Many Requests",
}


class ManagementState:
    """What the server answers, and what it was sent."""

    def __init__(self, delay: float = 0.0, require_signature: bool = False) -> None:
        self.delay = delay
        self.require_signature = require_signature
        self.gone: set[str] = set()
        self.throttle_once: set[str] = set()
        self.forbidden: set[str] = set()
        self.frames: dict[str, list[bytes]] = defaultdict(list)
        self.attempts: Counter[str] = Counter()
        self.deleted: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.request_lines: list[tuple[str, str]] = []  # (method, path as sent)
        self.record = True
        self.requests = 0
        self.connections = 0
        self.transports: list[asyncio.Transport] = []

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """The status, headers and body API Gateway would send."""
        self.requests += 1
        if self.record:
            self.headers.append(headers)
            self.request_lines.append((method, path))
        found = PATH.match(path)
        if found is None:
            return _error(404 if "@connections" not in path else 403, "ForbiddenException")
        connection_id = unquote(found.group("id"))
        self.attempts[connection_id] += 1
        if self.require_signature and not headers.get("authorization", "").startswith(
            "AWS4-HMAC-SHA256 "
        ):
            return _error(403, "ForbiddenException", "Missing Authentication Token")
        if connection_id in self.forbidden:
            return _error(403, "ForbiddenException", "Forbidden")
        if method == "POST" and len(body) > MAX_POST:
            return _error(413, "PayloadTooLargeException", "Message too long")
        if connection_id in self.gone:
            return _error(410, "GoneException")
        if connection_id in self.throttle_once and self.attempts[connection_id] == 1:
            return _error(429, "LimitExceededException", "Rate exceeded")
        if method == "DELETE":
            self.deleted.append(connection_id)
            return 204, {}, b""
        if self.record:
            self.frames[connection_id].append(body)
        return 200, {"Content-Type": "application/json"}, b""


def _error(
    status: int, error_type: str, message: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"message": message}).encode()
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}, body


class _Protocol(asyncio.Protocol):
    def __init__(self, state: ManagementState) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1
        self.state.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = head[0].split(" ", 2)
            status, out_headers, out_body = self.state.answer(method, path, headers, body)
            response = self._encode(status, out_headers, out_body)
            if self.state.delay:
                asyncio.get_running_loop().call_later(self.state.delay, self._write, response)
            else:
                self._write(response)

    @staticmethod
    def _encode(status: int, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _write(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


class ManagementServer:
    """The server in a background thread: ``with ManagementServer() as server: server.url``."""

    def __init__(
        self,
        state: ManagementState | None = None,
        stage: str = "dev",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.state = state or ManagementState()
        self.stage = stage
        self.tls = tls
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        """The Management API endpoint (with the stage), as the sender takes it."""
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}/{self.stage}"

    def __enter__(self) -> ManagementServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(10)
        return self

    async def _start(self) -> int:
        self._server = await self._loop.create_server(
            lambda: _Protocol(self.state), "127.0.0.1", 0, backlog=1024, ssl=self.tls
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def drop_connections(self) -> None:
        """Close every client connection, as a server ending idle keep-alives does."""

        def close_all() -> None:
            for transport in self.state.transports:
                transport.close()

        self._loop.call_soon_threadsafe(close_all)

    def __exit__(self, *_: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                self._server.close_clients()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def main() -> None:
    """Serve in the foreground (the benchmarks run it as its own process)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    state = ManagementState(delay=args.delay_ms / 1000)
    state.record = False

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Protocol(state), "127.0.0.1", args.port, backlog=1024
        )
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
