"""Backend events as the SAM translator deploys them (tests/deploy/sam.py): the streams, the
three event sources of the events function with AWS's failure handling, the bus (the stack's
or EventBusName), and the optional webhook (rule, connection, API destination, role)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import sam
from tests.deploy.test_template import of_type

STREAMED = {"ConnectionsTable", "SubscriptionsTable", "PresenceTable"}
WEBHOOK = {
    "WebhookConnection",
    "WebhookDestination",
    "WebhookRole",
    "WebhookRule",
    "WebhookDeadLetterQueue",
    "WebhookDeadLetterQueuePolicy",
}


def mappings(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The events function's event source mappings, by the table they read."""
    out = {}
    for mapping in of_type(template, "AWS::Lambda::EventSourceMapping").values():
        properties = mapping["Properties"]
        if properties["FunctionName"] == {"Ref": "EventsFunction"}:
            table, attribute = properties["EventSourceArn"]["Fn::GetAtt"]
            assert attribute == "StreamArn"
            out[table] = properties
    return out


@pytest.mark.parametrize("variant", list(sam.variants()))
def test_the_three_streams_feed_the_events_function_with_awss_failure_handling(
    variant: str,
) -> None:
    template = sam.deployed(variant)
    resources = template["Resources"]
    for table in STREAMED:
        spec = resources[table]["Properties"]["StreamSpecification"]
        assert spec == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, table
    found = mappings(template)
    assert set(found) == STREAMED
    for table, properties in found.items():
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"], table
        assert properties["BisectBatchOnFunctionError"] is True
        assert properties["MaximumRetryAttempts"] == 10
        assert properties["MaximumRecordAgeInSeconds"] == 3600
        assert properties["StartingPosition"] == "TRIM_HORIZON"
        assert properties["DestinationConfig"] == {
            "OnFailure": {"Destination": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}}
        }
    patterns = {t: p.get("FilterCriteria") for t, p in found.items()}
    insert_remove = {"Filters": [{"Pattern": '{"eventName": ["INSERT", "REMOVE"]}'}]}
    assert patterns == {
        "ConnectionsTable": insert_remove,
        "SubscriptionsTable": insert_remove,
        "PresenceTable": None,  # a MODIFY is how a presence changes
    }
    role = resources["EventsFunctionRole"]["Properties"]
    # SAM's policy for DynamoDB event sources reads the streams; its own for the destination
    assert (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
        in role["ManagedPolicyArns"]
    )
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert {
        "Action": "sqs:SendMessage",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]},
    } in statements


@pytest.mark.parametrize(
    ("variant", "bus", "grant"),
    [
        pytest.param(
            "defaults", {"Ref": "EventBus"}, {"Fn::GetAtt": ["EventBus", "Arn"]}, id="own"
        ),
        pytest.param(
            "event-bus",
            {"Ref": "EventBusName"},
            {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
                ":event-bus/${EventBusName}"
            },
            id="given",
        ),
    ],
)
def test_the_events_go_to_one_bus_and_only_it_is_granted(
    variant: str, bus: dict[str, Any], grant: dict[str, Any]
) -> None:
    resources = sam.deployed(variant)["Resources"]
    assert ("EventBus" in resources) is (variant == "defaults")
    function = resources["EventsFunction"]["Properties"]
    assert function["Environment"]["Variables"]["EVENT_BUS_NAME"] == bus
    statements = [
        s
        for p in resources["EventsFunctionRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    puts = [s for s in statements if "events:PutEvents" in s["Action"]]
    assert puts == [
        {
            "Sid": "PutBackendEvents",
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Resource": grant,
        }
    ]


def test_no_webhook_without_its_url() -> None:
    for variant in sam.variants():
        if variant != "webhook":
            assert not WEBHOOK & set(sam.deployed(variant)["Resources"]), variant


def test_the_webhook_posts_every_event_with_the_secret_header() -> None:
    template = sam.deployed("webhook")
    resources = template["Resources"]
    assert template["Parameters"]["WebhookSecret"]["NoEcho"] is True
    connection = resources["WebhookConnection"]["Properties"]
    assert connection["AuthorizationType"] == "API_KEY"
    assert connection["AuthParameters"] == {
        "ApiKeyAuthParameters": {
            "ApiKeyName": "x-switchboard-secret",
            "ApiKeyValue": {"Fn::Sub": "${WebhookSecret}"},
        }
    }
    destination = resources["WebhookDestination"]["Properties"]
    assert (destination["HttpMethod"], destination["InvocationEndpoint"]) == (
        "POST",
        {"Ref": "WebhookUrl"},
    )
    assert destination["ConnectionArn"] == {"Fn::GetAtt": ["WebhookConnection", "Arn"]}
    rule = resources["WebhookRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "EventBus"}
    assert rule["EventPattern"] == {"source": ["switchboard"]}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["WebhookDestination", "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["WebhookRole", "Arn"]}
    # what an hour of retries could not deliver is parked, by this rule only
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}}
    [parking] = resources["WebhookDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert (parking["Principal"], parking["Action"]) == (
        {"Service": "events.amazonaws.com"},
        "sqs:SendMessage",
    )
    assert parking["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["WebhookRule", "Arn"]}}
    }
    role = resources["WebhookRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    [policy] = role["Policies"]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "InvokeTheWebhook",
            "Effect": "Allow",
            "Action": ["events:InvokeApiDestination"],
            "Resource": {"Fn::GetAtt": ["WebhookDestination", "Arn"]},
        }
    ]
