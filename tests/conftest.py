"""Shared fixtures: a moto AWS, sample events, tokens, a Management API fake."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jwt
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SECRET = "test-secret-that-is-long-enough-0123456789"
MANAGEMENT_ENDPOINT = "https://management.test/dev"

# Handlers read the environment at import: set it before any test module imports them.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "switchboard",
        "POWERTOOLS_METRICS_NAMESPACE": "Switchboard",
        "WS_SECRET": SECRET,
        "MANAGEMENT_ENDPOINT": MANAGEMENT_ENDPOINT,
        # The environment's sender is the boto3 client, which ManagementApiFake hooks; the
        # `management` fixture installs the delivery engine (production's default) over HTTP
        # instead, unless a module parameterizes `engine` with "boto3" as well.
        "DELIVERY_ENGINE": "boto3",
        "CONNECTIONS_TABLE": "connections",
        "SUBSCRIPTIONS_TABLE": "subscriptions",
        "HISTORY_TABLE": "history",
        "PRESENCE_TABLE": "presence",
        "IDEMPOTENCY_TABLE": "idempotency",
        "TOKENS_TABLE": "tokens",
        "CHANNEL_STATES_TABLE": "channel-states",  # backend events (functions/events)
        "EVENT_BUS_NAME": "switchboard-events",
    }
)
os.environ.pop("DYNAMODB_ENDPOINT", None)

# When the test connections opened: the session's start, so that what expires with a
# connection (its item, subscriptions, presence) is alive whatever the date of the run.
CONNECTED_AT_MS = int(time.time()) * 1000


def make_token(
    user: str | None = "alice",
    *,
    ttl: int = 60,
    secret: str = SECRET,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    """A token as an app's backend mints it."""
    payload: dict[str, Any] = {"exp": int(time.time()) + ttl}
    if user is not None:
        payload["sub"] = user
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def run_with_layer(code: str, *argv: str) -> list[str]:
    """Run ``code`` in a fresh interpreter with only the switchboard library added to
    its path (as on Lambda, without what this process has imported); asserts it exits
    cleanly and returns its output's words."""
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT / "layers" / "switchboard")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def load_event(name: str) -> dict[str, Any]:
    """A sample API Gateway event from events/ (a fresh copy)."""
    return copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ManagementApiFake:
    """API Gateway's @connections answers, served to a real botocore client.

    Registered as a ``before-send`` hook: botocore builds, signs and sends the real
    request, and parses these real HTTP answers (410 GoneException, 429
    LimitExceededException), so the sender's error handling is exercised for real.
    """

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.throttle_once: set[str] = set()
        self.always_fail: set[str] = set()
        self.attempts: Counter[str] = Counter()
        self.deleted: list[str] = []

        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        """Answer a boto3 client's requests (the boto3 sender's path)."""
        client.meta.events.register("before-send.apigatewaymanagementapi", self._answer)

    def respond(self, method: str, url: str, body: bytes | None) -> tuple[int, str | None]:
        """The status (and error code) API Gateway would answer; records what was sent."""
        connection_id = unquote(url.rsplit("/@connections/", 1)[1])
        with self._lock:
            self.attempts[connection_id] += 1
            if connection_id in self.gone:
                return 410, "GoneException"
            if connection_id in self.always_fail:
                return 500, "InternalServerError"
            if connection_id in self.throttle_once and self.attempts[connection_id] == 1:
                return 429, "LimitExceededException"
            if method == "DELETE":
                self.deleted.append(connection_id)
            else:
                self.frames[connection_id].append(json.loads(body or b""))
        return 200, None

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        status, code = self.respond(request.method, request.url, request.body)
        if code is None:
            return AWSResponse(request.url, status, {}, _Raw(b""))
        body = json.dumps({"message": code}).encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
        return AWSResponse(request.url, status, headers, _Raw(body))

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Answer over real HTTP/1.1 on 127.0.0.1 (the delivery engine's path); yields the
        endpoint's URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status, code = fake.respond(self.command, self.path, body)
                payload = json.dumps({"message": code}).encode() if code else b""
                self.send_response(status)
                if code:
                    self.send_header("x-amzn-ErrorType", code)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_DELETE = _handle

            def log_message(self, *_args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/dev"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def replies(self, connection_id: str) -> list[dict[str, Any]]:
        """Frames sent to a connection."""
        return self.frames[connection_id]


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for DynamoDB (and SSM, Secrets Manager), with the tables created."""
    import boto3

    from switchboard import services
    from switchboard.store import create_tables

    services.reset()
    with mock_aws():
        services.store()
        create_tables()
        boto3.client("dynamodb").create_table(
            TableName=os.environ["IDEMPOTENCY_TABLE"],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield
    services.reset()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The container's Management API sender: the delivery engine (``fast``, the default),
    or ``boto3`` where a module parameterizes it (``indirect=True``)."""
    value: str = getattr(request, "param", "fast")
    return value


@pytest.fixture
def management(aws: None, engine: str) -> Iterator[ManagementApiFake]:
    """The Management API fake behind the container's sender: over HTTP on 127.0.0.1 for
    the delivery engine, or hooked into botocore for the boto3 client."""
    import dataclasses

    from switchboard import container
    from switchboard.delivery import DeliveryEngine

    fake = ManagementApiFake()
    box = container.current()
    if engine == "boto3":
        fake.attach(box.sender(MANAGEMENT_ENDPOINT)._client)  # type: ignore[attr-defined]
        yield fake
        return
    with fake.serve() as url:
        engines: list[DeliveryEngine] = []

        def new_sender(settings: Any, _endpoint: str) -> DeliveryEngine:
            engines.append(
                DeliveryEngine(url, settings.region, pool_size=settings.fanout_concurrency)
            )
            return engines[-1]

        container.install(dataclasses.replace(box, new_sender=new_sender))
        try:
            yield fake
        finally:
            for each in engines:
                each.shutdown()


@pytest.fixture
def ddb_calls(aws: None) -> Iterator[list[str]]:
    """The DynamoDB operations made through pynamodb, in order."""
    from pynamodb.connection.base import Connection

    calls: list[str] = []
    original = Connection._make_api_call

    def counting(self: Any, operation_name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(operation_name)
        return original(self, operation_name, *args, **kwargs)

    Connection._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]


def rewire(*, clock: Any = None, **settings: Any) -> Any:
    """Install a copy of this process's container with another clock and/or settings
    (the same store and Management API client); returns its realtime for the endpoint."""
    import dataclasses

    from switchboard import container

    box = container.current()
    changes: dict[str, Any] = {"settings": dataclasses.replace(box.settings, **settings)}
    if clock is not None:
        changes["clock"] = clock
    return container.install(dataclasses.replace(box, **changes)).realtime(MANAGEMENT_ENDPOINT)


class FakeLambdaContext:
    """A Lambda context as Powertools reads it."""

    function_name = "switchboard-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:switchboard-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


CONTEXT = FakeLambdaContext()


@pytest.fixture
def lambda_context() -> Any:
    """A Lambda context as Powertools reads it."""
    return CONTEXT


def connect(connection_id: str, user: str = "alice", **claims: Any) -> None:
    """Open ``connection_id`` for ``user`` (token ``claims`` added) through the
    ``$connect`` logic; asserts it is accepted."""
    from switchboard import services
    from switchboard.lifecycle import Handshake

    result = services.connector().connect(
        Handshake(
            connection_id=connection_id,
            connected_at_ms=CONNECTED_AT_MS,
            headers={},
            query={"token": make_token(user, **claims)},
        )
    )
    assert result.status == 200


def subscribed(n: int, *channels: str, prefix: str = "SUB") -> list[str]:
    """Open ``n`` connections (users ``u0``...) and subscribe each to ``channels`` through
    the store (no frames, no replies); returns their ids."""
    from switchboard import services

    ids = [f"{prefix}{i:05d}".ljust(15, "x") + "=" for i in range(n)]
    for i, connection_id in enumerate(ids):
        connect(connection_id, f"u{i}")
        record = services.store().get_connection(connection_id)
        assert record is not None
        for channel in channels:
            services.store().subscribe(record, channel)
    return ids


def send_frame(connection_id: str, body: Any, ctx: Any = CONTEXT) -> None:
    """Run one frame (a dict, or raw text) from ``connection_id`` through the ``$default``
    handler; asserts it answers 200 (the reply goes through the Management API)."""
    from functions.default import app

    event = load_event("default_ping")
    event["requestContext"]["connectionId"] = connection_id
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    assert app.lambda_handler(event, ctx) == {"statusCode": 200}


def disconnect(connection_id: str, ctx: Any = CONTEXT) -> None:
    """Run ``$disconnect`` for ``connection_id``."""
    from functions.disconnect import app

    event = load_event("disconnect")
    event["requestContext"]["connectionId"] = connection_id
    app.lambda_handler(event, ctx)
