"""Shared fixtures: a moto AWS, sample events, tokens, a Management API fake."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
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
        # ManagementApiFake hooks botocore: these tests take the boto3 path; both engines
        # run over real HTTP in tests/unit/test_delivery.py.
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

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-send.apigatewaymanagementapi", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        method = request.method
        connection_id = unquote(request.url.rsplit("/@connections/", 1)[1])
        self.attempts[connection_id] += 1
        if connection_id in self.gone:
            return self._error(request.url, 410, "GoneException")
        if connection_id in self.always_fail:
            return self._error(request.url, 500, "InternalServerError")
        if connection_id in self.throttle_once and self.attempts[connection_id] == 1:
            return self._error(request.url, 429, "LimitExceededException")
        if method == "DELETE":
            self.deleted.append(connection_id)
        else:
            self.frames[connection_id].append(json.loads(request.body))
        return AWSResponse(request.url, 200, {}, _Raw(b""))

    @staticmethod
    def _error(url: str, status: int, code: str) -> AWSResponse:
        body = json.dumps({"message": code}).encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json"}
        return AWSResponse(url, status, headers, _Raw(body))

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
def management(aws: None) -> ManagementApiFake:
    """The Management API fake attached to the container's sender."""
    from switchboard import services

    fake = ManagementApiFake()
    fake.attach(services.sender(MANAGEMENT_ENDPOINT)._client)
    return fake


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
