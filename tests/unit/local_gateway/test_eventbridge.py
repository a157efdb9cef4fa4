"""The local EventBridge (:mod:`local_gateway.eventbridge`): envelopes and PutEvents answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from local_gateway.eventbridge import LocalEventBridge, envelope
from local_gateway.eventlog import EventLog


def test_an_entry_becomes_eventbridges_envelope() -> None:
    entry = {
        "Source": "switchboard",
        "DetailType": "connection.opened",
        "Detail": json.dumps({"eventId": "e", "ts": 1}),
        "Time": 1796169599.0,
        "Resources": [],
    }
    event = envelope(entry, "id-1")
    EventBridgeModel.model_validate(event)
    assert event == {
        "version": "0",
        "id": "id-1",
        "detail-type": "connection.opened",
        "source": "switchboard",
        "account": "123456789012",
        "time": "2026-12-01T23:59:59Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"eventId": "e", "ts": 1},
    }


@pytest.fixture
def bridge() -> Any:
    serving = LocalEventBridge(EventLog(functions=False))
    yield serving
    serving.close()


@pytest.mark.parametrize(
    ("target", "body", "status", "error"),
    [
        pytest.param("AWSEvents.PutRule", b"{}", 400, "UnknownOperationException", id="other-op"),
        pytest.param("AWSEvents.PutEvents", b"not json", 400, "ValidationException", id="not-json"),
        pytest.param(
            "AWSEvents.PutEvents", b'{"Entries": []}', 400, "ValidationException", id="none"
        ),
        pytest.param(
            "AWSEvents.PutEvents",
            json.dumps({"Entries": [{"Source": "s"}] * 11}).encode(),
            400,
            "ValidationException",
            id="eleven",
        ),
    ],
)
def test_bad_calls_get_eventbridges_errors(
    bridge: LocalEventBridge, target: str, body: bytes, status: int, error: str
) -> None:
    answer = bridge.handle(target, body)
    assert (answer[0], answer[1]["__type"]) == (status, error)


def test_a_malformed_entry_fails_alone(bridge: LocalEventBridge) -> None:
    good = {"Source": "switchboard", "DetailType": "t", "Detail": '{"eventId": "e"}'}
    entries = [good, {"Source": "switchboard", "DetailType": "t", "Detail": "[1]"}, "x"]
    status, answer = bridge.handle("AWSEvents.PutEvents", json.dumps({"Entries": entries}).encode())
    assert (status, answer["FailedEntryCount"]) == (200, 2)
    assert [sorted(result) for result in answer["Entries"]] == [
        ["EventId"],
        ["ErrorCode", "ErrorMessage"],
        ["ErrorCode", "ErrorMessage"],
    ]
    assert [event["detail"] for event in bridge.events] == [{"eventId": "e"}]
