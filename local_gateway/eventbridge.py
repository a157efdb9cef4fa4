"""EventBridge on this machine: ``PutEvents`` on 127.0.0.1, and ``EVENTS_URL`` POSTs.

:class:`LocalEventBridge` answers ``PutEvents`` as EventBridge does (at most 10 entries,
256 KB, a malformed entry failing alone); the functions reach it through
``EVENTS_ENDPOINT``. Each entry becomes EventBridge's envelope (:func:`envelope`), is
logged (its detail-type and detail: no token is in an event), and, with ``EVENTS_URL``
set, POSTed there as an API destination would (429 and 5xx retried), with the
``x-switchboard-secret`` header when ``EVENTS_SECRET`` is set (:func:`from_environment`).
"""

from __future__ import annotations

import datetime
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_gateway.eventlog import EventLog
from local_gateway.local_aws import ACCOUNT_ID, REGION

__all__ = ["SECRET_HEADER", "LocalEventBridge", "envelope", "from_environment"]

SECRET_HEADER = "x-switchboard-secret"  # noqa: S105 - a header name
MAX_ENTRIES = 10  # botocore's events model: PutEventsRequestEntryList max
MAX_REQUEST_BYTES = 256 * 1024
POST_ATTEMPTS = 5


def _iso(value: Any) -> str:
    when = (
        datetime.datetime.fromtimestamp(float(value), datetime.UTC)
        if value is not None
        else datetime.datetime.now(datetime.UTC)
    )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(entry: Mapping[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """EventBridge's event for one PutEvents entry (what rules and API destinations get)."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": ACCOUNT_ID,
        "time": _iso(entry.get("Time")),
        "region": REGION,
        "resources": list(entry.get("Resources") or []),
        "detail": json.loads(entry["Detail"]),
    }


def _entry_error(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "an entry is not an object"
    for key in ("Source", "DetailType", "Detail"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            return f"{key} is required"
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return "Detail is not valid JSON"
    if not isinstance(detail, dict):
        return "Detail is not a JSON object"
    return None


class LocalEventBridge:
    """``PutEvents`` on 127.0.0.1; each event logged, and POSTed to ``url`` when set."""

    def __init__(self, log: EventLog, *, url: str | None = None, secret: str | None = None):
        self.log = log
        self.url = url
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = bridge.handle(
                    self.headers.get("X-Amz-Target", ""), self.rfile.read(length)
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._post_loop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def handle(self, target: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one call as EventBridge does (``PutEvents`` only)."""
        if target != "AWSEvents.PutEvents":
            return 400, {"__type": "UnknownOperationException", "message": target}
        try:
            request = json.loads(raw)
            entries = request["Entries"]
            count = len(entries) if isinstance(entries, list) else 0
        except (ValueError, KeyError, TypeError):
            count = 0
        if not 1 <= count <= MAX_ENTRIES:
            return 400, {"__type": "ValidationException", "message": "1 to 10 Entries"}
        if len(raw) > MAX_REQUEST_BYTES * 2:
            return 400, {"__type": "ValidationException", "message": "over 256 KB"}
        results = []
        failed = 0
        for entry in entries:
            error = _entry_error(entry)
            if error is not None:
                failed += 1
                results.append({"ErrorCode": "MalformedDetail", "ErrorMessage": error})
                continue
            event = envelope(entry)
            self.events.append(event)
            detail = event["detail"]
            subject = str(detail.get("channel") or detail.get("connectionId") or "")[:16]
            shown = json.dumps(detail, separators=(",", ":"))
            self.log.event("EVENT", subject, f"{event['detail-type']} {shown}", "put")
            if self.url:
                self._outbox.put(event)
            results.append({"EventId": event["id"]})
        return 200, {"FailedEntryCount": failed, "Entries": results}

    def _post_loop(self) -> None:
        while True:
            event = self._outbox.get()
            if event is None:
                return
            self._post(event)

    def _post(self, event: dict[str, Any]) -> None:
        assert self.url is not None
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        data = json.dumps(event).encode()
        status: int | str = "error"
        for attempt in range(POST_ATTEMPTS):  # as an API destination: 429 and 5xx retried
            request = urllib.request.Request(  # noqa: S310 - EVENTS_URL, set by the developer
                self.url, data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    status = response.status
                    break
            except urllib.error.HTTPError as exc:
                status = exc.code
                if exc.code != 429 and exc.code < 500:
                    break
            except OSError as exc:
                status = type(exc).__name__
            time.sleep(min(0.2 * 2**attempt, 2.0))
        self.log.event("WEBHOOK", event["detail-type"], f"POST {self.url}", status)

    def close(self) -> None:
        """Stop serving and posting."""
        self._outbox.put(None)
        self._server.shutdown()
        self._server.server_close()


def from_environment(log: EventLog) -> LocalEventBridge:
    """The local EventBridge, posting to ``EVENTS_URL`` with ``EVENTS_SECRET`` when set."""
    return LocalEventBridge(
        log,
        url=os.environ.get("EVENTS_URL") or None,
        secret=os.environ.get("EVENTS_SECRET") or None,
    )
