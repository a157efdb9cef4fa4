"""The DynamoDB operations each request path makes: counted, and never a Scan."""

from __future__ import annotations

import json
from typing import Any

from functions.connect import app as connect_app
from functions.default import app as default_app
from functions.disconnect import app as disconnect_app
from switchboard import services
from tests.conftest import (
    CONNECTED_AT_MS,
    MANAGEMENT_ENDPOINT,
    ManagementApiFake,
    load_event,
    make_token,
    subscribed,
)

ME = "Fz1xWfAGIAMCKsA="


def _frame(body: dict[str, Any], ctx: Any) -> None:
    event = load_event("default_ping")
    event["body"] = json.dumps(body)
    default_app.lambda_handler(event, ctx)


def test_operation_counts_per_request_path(
    management: ManagementApiFake, ddb_calls: list[str], lambda_context: Any
) -> None:
    n_subscribers = 40
    subscribed(n_subscribers, "room:big")

    ddb_calls.clear()
    event = load_event("connect")
    event["queryStringParameters"] = {"token": make_token("alice")}
    event["multiValueQueryStringParameters"] = {"token": [event["queryStringParameters"]["token"]]}
    assert connect_app.lambda_handler(event, lambda_context)["statusCode"] == 200
    assert ddb_calls == ["PutItem"]

    ddb_calls.clear()
    event["requestContext"]["connectionId"] = "JTIxxxxxxxxxxx="
    event["queryStringParameters"] = {"token": make_token("alice", jti="abc")}
    event["multiValueQueryStringParameters"] = {"token": [event["queryStringParameters"]["token"]]}
    assert connect_app.lambda_handler(event, lambda_context)["statusCode"] == 200
    assert ddb_calls == ["PutItem", "PutItem"]  # spend the jti, store the connection

    ddb_calls.clear()
    _frame({"action": "subscribe", "channel": "room:big"}, lambda_context)
    assert ddb_calls == ["GetItem", "PutItem", "Query"]  # connection, subscription, position

    ddb_calls.clear()
    _frame({"action": "ping"}, lambda_context)
    assert ddb_calls == []

    ddb_calls.clear()
    handler = services.message_handler(MANAGEMENT_ENDPOINT)
    handler.clock = lambda: CONNECTED_AT_MS / 1000 + 0.2
    _frame({"action": "publish", "channel": "room:big", "data": 1}, lambda_context)
    # the rate slot counted and the connection read in one update, the channel's position,
    # the message written at the next seq (the write takes the seq), subscribers
    assert ddb_calls == ["UpdateItem", "Query", "PutItem", "Query"]
    assert management.replies(ME)[-1]["delivered"] == n_subscribers + 1

    handler.clock = lambda: CONNECTED_AT_MS / 1000 + 0.7
    ddb_calls.clear()
    _frame({"action": "publish", "channel": "room:big", "data": 3}, lambda_context)
    # inside an open rate window: the same
    assert ddb_calls == ["UpdateItem", "Query", "PutItem", "Query"]
    assert management.replies(ME)[-1]["seq"] == 2

    ddb_calls.clear()
    _frame({"action": "unsubscribe", "channel": "room:big"}, lambda_context)
    assert ddb_calls == ["GetItem", "DeleteItem"]

    ddb_calls.clear()
    _frame({"action": "subscribe", "channel": "room:big"}, lambda_context)
    ddb_calls.clear()
    disconnect_app.lambda_handler(load_event("disconnect"), lambda_context)
    assert ddb_calls == ["DeleteItem", "Query", "BatchWriteItem"]


def test_no_request_path_module_mentions_scan() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("layers/switchboard/switchboard/*.py"), *root.glob("functions/*/app.py")]
    assert sources
    for source in sources:
        text = source.read_text()
        assert ".scan(" not in text, source
        assert '"Scan"' not in text, source
