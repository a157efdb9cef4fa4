"""Lambda proxy integration: what a route function's answer means to API Gateway.

A WebSocket route's answer (its ``statusCode`` refuses or accepts ``$connect``, its headers
carry ``Sec-WebSocket-Protocol``), an HTTP API route's payload format 2.0 answer (with AWS's
inference for answers without ``statusCode``), and the log line of a failed invocation.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any

from local_gateway import http11
from local_gateway.eventlog import EventLog
from local_gateway.workers import InvocationError

__all__ = ["http_api_response", "log_invocation_error", "millis_since", "websocket_result"]


def millis_since(started: float) -> float:
    """Milliseconds since the monotonic ``started``."""
    return (time.monotonic() - started) * 1000


def log_invocation_error(
    log: EventLog, kind: str, subject: str, function: str, exc: InvocationError, *, started: float
) -> None:
    """One event line for an invocation that failed (raised, timed out, or its worker died)."""
    log.event(kind, subject, f"{function} {exc.error_type}: {exc}", "error", millis_since(started))


def _lower_headers(result: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(key).lower(): str(value) for key, value in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        if values:
            headers[str(key).lower()] = ", ".join(str(value) for value in values)
    return headers


def websocket_result(result: Any) -> tuple[int, dict[str, str], str]:
    """A WebSocket route's Lambda proxy answer: status (200 when absent), headers, body."""
    if not isinstance(result, dict):
        return 200, {}, ""
    status = int(result.get("statusCode", 200))
    body = result.get("body")
    return status, _lower_headers(result), body if isinstance(body, str) else ""


def http_api_response(result: Any) -> http11.Response:
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
