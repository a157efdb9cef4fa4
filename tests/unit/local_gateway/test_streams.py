"""The local gateway's stand-in for Lambda's DynamoDB stream event sources
(:mod:`local_gateway.streams`), with plain values: filter patterns and records."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from local_gateway.streams import lambda_record, matches


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


def test_a_get_records_record_becomes_the_record_lambda_passes() -> None:
    created = datetime.datetime(2026, 12, 1, 23, 59, 59, tzinfo=datetime.UTC)
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": {"connectionId": {"S": "C1"}},
        "SequenceNumber": "7",
        "SizeBytes": 26,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    raw = {"eventID": "e1", "eventName": "REMOVE", "dynamodb": body}
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-12-01T00:00:00.000"
    record = lambda_record(raw, arn)
    assert record == {
        "eventID": "e1",
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {**body, "ApproximateCreationDateTime": 1796169599.0},
        "eventSourceARN": arn,
    }
    assert body["ApproximateCreationDateTime"] is created  # the caller's record is kept
    assert lambda_record(raw, arn, by_ttl=True)["userIdentity"] == {
        "type": "Service",
        "principalId": "dynamodb.amazonaws.com",
    }
    assert matches({"userIdentity": [{"exists": False}]}, record)
    assert not matches({"userIdentity": [{"exists": False}]}, lambda_record(raw, arn, by_ttl=True))
