"""The local gateway's stand-ins for Lambda's stream event sources and EventBridge, with plain
values: the template's DynamoDB events as read, filter patterns, and PutEvents answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from local_gateway.eventlog import EventLog
from local_gateway.streams import LocalEventBridge, envelope, matches, stream_sources
from tests.conftest import ROOT


def test_the_templates_three_event_sources_are_read_with_their_settings() -> None:
    sources = {source.table: source for source in stream_sources(ROOT / "template.yaml")}
    assert set(sources) == {"ConnectionsTable", "SubscriptionsTable", "PresenceTable"}
    for source in sources.values():
        assert (source.function, source.batch_size, source.batching_window) == (
            "EventsFunction",
            100,
            1.0,
        )
        assert (source.maximum_retry_attempts, source.report_batch_item_failures) == (10, True)
    assert sources["ConnectionsTable"].filters == ({"eventName": ["INSERT", "REMOVE"]},)
    assert sources["PresenceTable"].filters == ()


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        pytest.param(
            {"eventName": ["INSERT", "REMOVE"]}, {"eventName": "INSERT"}, True, id="listed"
        ),
        pytest.param({"eventName": ["INSERT", "REMOVE"]}, {"eventName": "MODIFY"}, False, id="not"),
        pytest.param({"eventName": ["INSERT"]}, {}, False, id="missing"),
        pytest.param(
            {"dynamodb": {"Keys": {"channel": {"S": ["a"]}}}},
            {"dynamodb": {"Keys": {"channel": {"S": "a"}}}},
            True,
            id="nested",
        ),
        pytest.param({"userIdentity": [{"exists": False}]}, {}, True, id="absent"),
        pytest.param({"userIdentity": [{"exists": True}]}, {"userIdentity": 1}, True, id="present"),
        pytest.param({"a": {"b": ["x"]}}, {"a": "x"}, False, id="not-a-map"),
    ],
)
def test_filter_patterns_match_as_eventbridge_patterns(
    pattern: dict[str, Any], value: dict[str, Any], expected: bool
) -> None:
    assert matches(pattern, value) is expected


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
