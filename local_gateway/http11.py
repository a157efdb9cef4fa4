"""A small HTTP/1.1 server side for the requests that are not WebSocket handshakes.

websockets parses only bodiless handshake requests, so the gateway answers the Management
API (``POST @connections`` has a body), HTTP API routes and the development pages itself:
requests with a ``Content-Length`` body, keep-alive, one request at a time per connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import unquote

__all__ = ["HttpError", "Request", "Response", "json_response", "serve_http"]

MAX_HEAD = 16 * 1024
MAX_BODY = 10 * 1024 * 1024  # an HTTP API's payload limit


class HttpError(Exception):
    """A request that cannot be parsed; answered with ``status`` then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Request:
    """One parsed request."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: str
    version: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        """The path as sent, percent-encoding kept."""
        return self.target.partition("?")[0]

    @property
    def path(self) -> str:
        """The decoded path."""
        return unquote(self.raw_path)

    @property
    def query(self) -> str:
        """The raw query string."""
        return self.target.partition("?")[2]

    def header(self, name: str, default: str | None = None) -> str | None:
        """The last value of a header (names compare without case)."""
        wanted = name.lower()
        found = default
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found


@dataclasses.dataclass
class Response:
    """One response."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def serialize(self, keep_alive: bool, head_only: bool = False) -> bytes:
        """The bytes on the wire."""
        try:
            reason = http.HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        names = {name.lower() for name, _ in self.headers}
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if "content-length" not in names and self.status not in (204, 304):
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON response."""
    return Response(
        status,
        json.dumps(payload, separators=(",", ":")).encode(),
        [("Content-Type", "application/json"), *headers],
    )


async def _read_request(reader: asyncio.StreamReader, peer: str) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "malformed header")
        headers.append((name, value.strip()))
    request = Request(parts[0], parts[1], headers, b"", peer, parts[2])
    if request.header("Transfer-Encoding"):
        raise HttpError(501, "chunked request bodies are not supported")
    length_text = request.header("Content-Length", "0") or "0"
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    return dataclasses.replace(request, body=body)


Handler = Callable[[Request], Awaitable[Response]]


async def serve_http(
    reader: asyncio.StreamReader,
    transport: asyncio.Transport,
    peer: str,
    handler: Handler,
) -> None:
    """Answer requests from ``reader`` until the client closes or asks to close."""
    try:
        while not transport.is_closing():
            try:
                request = await _read_request(reader, peer)
            except HttpError as exc:
                answer = json_response(exc.status, {"message": str(exc)})
                transport.write(answer.serialize(keep_alive=False))
                break
            except asyncio.IncompleteReadError:
                break
            if request is None:
                break
            response = await handler(request)
            connection = (request.header("Connection") or "").lower()
            keep_alive = connection == "keep-alive" or (
                request.version == "HTTP/1.1" and connection != "close"
            )
            if transport.is_closing():
                break
            transport.write(response.serialize(keep_alive, head_only=request.method == "HEAD"))
            if not keep_alive:
                break
    finally:
        if not transport.is_closing():
            transport.close()
