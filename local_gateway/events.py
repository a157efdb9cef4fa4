"""API Gateway's Lambda events, built from plain values (no sockets here).

The shapes follow what API Gateway sends to a Lambda proxy integration: WebSocket events for
``$connect``, messages and ``$disconnect``, and HTTP API payload format 2.0 events. Ids have
API Gateway's look: a connection id such as ``L0SM9cOFvHcCIhw=`` (11 random bytes, URL-safe
base64), request ids of the same form, and the CLF ``requestTime`` (``09/Feb/2024:18:11:43
+0000``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from local_gateway.local_aws import ACCOUNT_ID

__all__ = [
    "ConnectionInfo",
    "connect_event",
    "disconnect_event",
    "http_api_event",
    "message_event",
    "new_id",
    "request_time",
]


def new_id() -> str:
    """A 16-character id in API Gateway's format (connection, request and message ids)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def epoch_millis() -> int:
    """Now, in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def request_time(millis: int) -> str:
    """``requestTime`` in API Gateway's CLF format: ``09/Feb/2024:18:11:43 +0000``."""
    moment = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    return moment.strftime("%d/%b/%Y:%H:%M:%S +0000")


def iso8601(millis: int) -> str:
    """An ISO 8601 UTC timestamp with milliseconds, as the Management API writes them."""
    moment = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclasses.dataclass
class ConnectionInfo:
    """What API Gateway knows of one WebSocket connection."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at: int  # epoch millis
    last_active_at: int
    headers: list[tuple[str, str]]  # as received, in order, repeated names kept
    query: str

    def identity(self) -> dict[str, Any]:
        """``requestContext.identity``."""
        return {"sourceIp": self.source_ip, "userAgent": self.user_agent}


def _request_context(
    info: ConnectionInfo, route_key: str, event_type: str, now: int
) -> dict[str, Any]:
    request_id = new_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at,
        "requestTimeEpoch": now,
        "identity": info.identity(),
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    }


def _header_maps(
    headers: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        multi.setdefault(name, []).append(value)
        single[name] = value
    return single, multi


def _query_maps(query: str) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        multi.setdefault(name, []).append(value)
        single[name] = value
    return single, multi


def connect_event(info: ConnectionInfo, now: int | None = None) -> dict[str, Any]:
    """The ``$connect`` event: the handshake's headers and query string."""
    now = now if now is not None else epoch_millis()
    headers = [
        *info.headers,
        ("X-Amzn-Trace-Id", f"Root=1-{now // 1000:08x}-{uuid.uuid4().hex[:24]}"),
        ("X-Forwarded-For", info.source_ip),
        ("X-Forwarded-Port", info.domain_name.rpartition(":")[2] or "80"),
        ("X-Forwarded-Proto", "http"),
    ]
    single, multi = _header_maps(headers)
    event: dict[str, Any] = {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": _request_context(info, "$connect", "CONNECT", now),
        "isBase64Encoded": False,
    }
    if info.query:
        query, multi_query = _query_maps(info.query)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    return event


def message_event(
    info: ConnectionInfo,
    route_key: str,
    body: str,
    now: int | None = None,
) -> dict[str, Any]:
    """A message event: one text frame, routed to ``route_key``."""
    now = now if now is not None else epoch_millis()
    context = _request_context(info, route_key, "MESSAGE", now)
    context["messageId"] = new_id()
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    info: ConnectionInfo, status_code: int, reason: str, now: int | None = None
) -> dict[str, Any]:
    """The ``$disconnect`` event, with the close code and reason."""
    now = now if now is not None else epoch_millis()
    headers = [
        ("Host", info.domain_name),
        ("x-api-key", ""),
        ("X-Forwarded-For", ""),
        ("x-restapi", ""),
    ]
    single, multi = _header_maps(headers)
    context = _request_context(info, "$disconnect", "DISCONNECT", now)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": context,
        "isBase64Encoded": False,
    }


def http_api_event(
    *,
    route_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    path_parameters: Mapping[str, str],
    api_id: str,
    stage: str,
    source_ip: str,
    now: int | None = None,
) -> dict[str, Any]:
    """An HTTP API event, payload format 2.0 (header names lower-cased, repeats joined)."""
    now = now if now is not None else epoch_millis()
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    try:
        text, is_base64 = body.decode(), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    request_id = new_id()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": joined.get("host", "localhost").split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": stage,
            "time": request_time(now),
            "timeEpoch": now,
        },
        "isBase64Encoded": is_base64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = text
    return event
