"""The handlers' shared set-up: SQS partial batch responses, and the cold path's imports.

Each handler is imported in a fresh interpreter laid out as Lambda lays out the function
(its code directory and the layer on the path), and what that import loaded is compared
with what its first event needs: the modules deferred to the paths that use them must
not be there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard import container
from switchboard.handlers import BatchFailedError, LambdaApp
from switchboard.lambda_events import SqsRecord
from tests.conftest import CONTEXT
from tests.unit.switchboard.fakes import make_container

ROOT = Path(__file__).resolve().parents[3]

# Loaded by no handler at init: Powertools' event data classes (switchboard.lambda_events
# reads the events instead), its batch module (imports asyncio), idempotency
# (the HTTP API loads it for a request with an Idempotency-Key), parameters (SSM/Secrets
# Manager: only when the secret is fetched), the X-Ray SDK (tracing off), boto3 (botocore
# serves every client).
NEVER_AT_INIT = {
    "asyncio",
    "aws_lambda_powertools.utilities.data_classes",
    "boto3",
    "aws_xray_sdk",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
    "switchboard.secrets",
    "switchboard.services",
}
NO_TOKENS = {"jwt", "cryptography", "switchboard.auth"}  # only where tokens are verified
NO_FANOUT = {"switchboard.delivery", "switchboard.multiplex", "switchboard.queueing"}
DEFERRED = {
    "connect": NEVER_AT_INIT | NO_FANOUT | {"switchboard.actions", "switchboard.realtime"},
    "default": NEVER_AT_INIT | NO_TOKENS,
    "disconnect": NEVER_AT_INIT | NO_TOKENS | {"switchboard.actions"},
    "publish": NEVER_AT_INIT | {"switchboard.actions"},
    "fanout_worker": NEVER_AT_INIT | NO_TOKENS | {"switchboard.actions"},
    # backend events: stream images are read without boto3 (switchboard.stream_images)
    "events": NEVER_AT_INIT | NO_TOKENS | NO_FANOUT | {"switchboard.actions"},
}
PROBE = """
import json, sys
import app
from switchboard.dynamodb_tables import MODELS
connections = {id(m._get_connection().connection) for m in MODELS}
clients = [m._get_connection().connection._client for m in MODELS]
print(json.dumps({"modules": sorted(sys.modules), "connections": len(connections),
                  "clients": sum(c is not None for c in clients)}))
"""


def _cold_import(function: str) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "DYNAMODB_", "POWERTOOLS_TRACE"))
    }
    env |= {
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "functions" / function), str(ROOT / "layers" / "switchboard")]
        ),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "WS_SECRET": "a-test-secret-that-is-long-enough-0123456789",
        "MANAGEMENT_ENDPOINT": "https://abc123defg.execute-api.us-east-1.amazonaws.com/dev",
        "FANOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fanout",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("function", sorted(DEFERRED))
def test_a_cold_import_loads_only_what_the_first_event_needs(function: str) -> None:
    probe = _cold_import(function)
    loaded = set(probe["modules"])
    assert {"app", "switchboard.container", "switchboard.store"} <= loaded
    assert sorted(DEFERRED[function] & loaded) == []
    # One pynamodb connection for every table, and no botocore client until the first call:
    # DynamoDB's service model is loaded once, by the first event.
    assert (probe["connections"], probe["clients"]) == (1, 0)


def _record(body: str, message_id: str) -> dict[str, Any]:
    return {"messageId": message_id, "receiptHandle": "r", "body": body, "attributes": {}}


@pytest.fixture
def sqs_handler() -> Iterator[tuple[Any, list[str]]]:
    box, _store, _sender = make_container()
    container.install(box)
    seen: list[str] = []

    def handle(record: SqsRecord, got: container.Container) -> None:
        assert got is box
        seen.append(record.message_id)
        if record.body == "bad":
            raise ValueError("a bad batch")

    yield LambdaApp(traced=False).sqs_batch(handle), seen
    container.reset()


@pytest.mark.parametrize(
    ("bodies", "failures"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(["ok", "ok"], [], id="all-delivered"),
        pytest.param(["bad", "ok", "bad"], ["m0", "m2"], id="partial"),
    ],
)
def test_a_failed_record_is_reported_alone(
    sqs_handler: tuple[Any, list[str]], bodies: list[str], failures: list[str]
) -> None:
    handler, seen = sqs_handler
    records = [_record(body, f"m{i}") for i, body in enumerate(bodies)]
    answer = handler({"Records": records}, CONTEXT)
    assert answer == {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}
    assert seen == [f"m{i}" for i in range(len(bodies))]  # every record, in order


def test_a_batch_whose_every_record_failed_fails_the_invocation(
    sqs_handler: tuple[Any, list[str]],
) -> None:
    handler, seen = sqs_handler
    with pytest.raises(BatchFailedError) as failed:
        handler({"Records": [_record("bad", "m0"), _record("bad", "m1")]}, CONTEXT)
    assert seen == ["m0", "m1"]
    assert [str(e) for e in failed.value.errors] == ["a bad batch", "a bad batch"]
