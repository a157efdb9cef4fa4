"""The events function on moto: the real handlers write the tables, moto's DynamoDB Streams
hold the records (read as Lambda passes them, tests/aws_artefacts' sample shape), the
function puts the events on moto's EventBridge, and a rule delivers them to an SQS queue
(moto's EventBridge builds the envelope). Every call it makes is granted by the role SAM
generates for it (tests/integration/test_iam.py), on the stack's bus and on a given one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel, EventBridgeModel

from functions.events import app as events_app
from local_gateway.streams import lambda_record
from switchboard import container
from switchboard.config import Settings
from switchboard.container import Container
from tests.conftest import (
    CONTEXT,
    ROOT,
    ManagementApiFake,
    connect,
    disconnect,
    send_frame,
)
from tests.integration.test_iam import Recorder, assert_granted, granted_to, recorder, ungranted

__all__ = ["recorder"]  # the fixture, shared with test_iam.py

SAMPLE = json.loads((ROOT / "tests/aws_artefacts/events/DynamoDBUpdate.json").read_text())
STREAMED = ("connections", "subscriptions", "presence")


@pytest.fixture
def streams(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Streams on the three tables, the channel states table, the bus, and a rule that
    sends every event to a queue. Yields the queue's URL under "queue"."""
    _streamed_tables()
    yield from _bus(monkeypatch, "switchboard-events")


def _streamed_tables() -> None:
    """Streams on the three tables (as template.yaml), and the channel states table."""
    dynamodb = boto3.client("dynamodb")
    for table in STREAMED:
        dynamodb.update_table(
            TableName=table,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    dynamodb.create_table(
        TableName="channel-states",
        AttributeDefinitions=[{"AttributeName": "channel", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "channel", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _bus(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("EVENT_BUS_NAME", name)
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    events.create_event_bus(Name=name)
    url = sqs.create_queue(QueueName=f"{name}-sink")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all", EventBusName=name, EventPattern=json.dumps({"source": ["switchboard"]})
    )
    events.put_targets(Rule="all", EventBusName=name, Targets=[{"Id": "sink", "Arn": arn}])
    box = container.current()  # its settings were read before this variant's bus was set
    container.install(replace(box, settings=replace(box.settings, event_bus_name=name)))
    yield {"queue": url}


class StreamReader:
    """Lambda's side: every new record of the three streams, as Lambda passes them."""

    def __init__(self) -> None:
        self.dynamodb = boto3.client("dynamodb")
        self.streams = boto3.client("dynamodbstreams")
        self.iterators: dict[str, str] = {}
        for table in STREAMED:
            arn = self.dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            [shard] = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            self.iterators[arn] = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]

    def batches(self) -> list[dict[str, Any]]:
        out = []
        for arn, iterator in self.iterators.items():
            response = self.streams.get_records(ShardIterator=iterator)
            self.iterators[arn] = response["NextShardIterator"]
            records = [lambda_record(r, arn) for r in response["Records"]]
            if records:
                out.append({"Records": records})
        return out


def delivered(queue: str) -> list[dict[str, Any]]:
    """The envelopes the rule delivered to the queue."""
    sqs = boto3.client("sqs")
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def run_events(reader: StreamReader, recorder: Recorder | None = None) -> None:
    for event in reader.batches():
        for record in event["Records"]:  # Lambda's record shape: AWS's sample and model
            assert set(record) >= set(SAMPLE["Records"][0])
            assert set(record["dynamodb"]) >= {"Keys", "SequenceNumber", "StreamViewType"}
        DynamoDBStreamModel.model_validate(event)
        if recorder is None:
            assert events_app.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
        else:
            with recorder.running("EventsFunction"):
                assert events_app.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}


def test_the_handlers_writes_become_events_on_the_bus(
    streams: dict[str, str], management: ManagementApiFake, recorder: Recorder
) -> None:
    reader = StreamReader()
    connect("EVA000000000001=", "alice", presence={"n": 1})
    connect("EVB000000000001=", "bob")
    send_frame("EVA000000000001=", {"action": "subscribe", "channel": "room:x", "id": "1"})
    send_frame("EVB000000000001=", {"action": "subscribe", "channel": "room:x", "id": "2"})
    send_frame("EVA000000000001=", {"action": "subscribe", "channel": "presence-x", "id": "3"})
    send_frame("EVA000000000001=", {"action": "publish", "channel": "room:x", "data": 1, "id": "4"})
    run_events(reader, recorder)
    disconnect("EVA000000000001=")
    disconnect("EVB000000000001=")
    run_events(reader, recorder)

    envelopes = delivered(streams["queue"])
    for envelope in envelopes:  # moto's EventBridge leaves "account" out of its envelope
        EventBridgeModel.model_validate({"account": "123456789012", **envelope})
        assert envelope["source"] == "switchboard"
    seen = sorted(
        (
            e["detail-type"],
            e["detail"].get("connectionId"),
            e["detail"].get("channel"),
            e["detail"].get("reason"),
        )
        for e in envelopes
    )
    assert seen == sorted(
        [
            ("connection.opened", "EVA000000000001=", None, None),
            ("connection.opened", "EVB000000000001=", None, None),
            ("channel.occupied", "EVA000000000001=", "room:x", None),
            ("channel.occupied", "EVA000000000001=", "presence-x", None),
            ("presence.joined", "EVA000000000001=", "presence-x", None),
            ("presence.left", "EVA000000000001=", "presence-x", "disconnect"),
            ("channel.vacated", "EVA000000000001=", "presence-x", "disconnect"),
            ("connection.closed", "EVA000000000001=", None, "disconnect"),
            # both left before the records were read: the first removal read finds it empty
            ("channel.vacated", "EVA000000000001=", "room:x", "disconnect"),
            ("connection.closed", "EVB000000000001=", None, "disconnect"),
        ]
    )
    # the role SAM makes for the function grants every call it made, and no more tables
    assert_granted(recorder, "EventsFunction")
    assert {a for a, _ in recorder.needs("EventsFunction")} == {
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "events:PutEvents",
    }
    assert ("dynamodb:Query", "ConnectionsTable") not in granted_to("EventsFunction")
    assert ungranted({("events:PutEvents", "EventBus")}, granted_to("EventsFunction", "event-bus"))


@pytest.fixture
def given_bus(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    _streamed_tables()
    yield from _bus(monkeypatch, "apps-bus")  # the event-bus variant's EventBusName


def test_a_given_bus_is_the_one_written_and_granted(
    given_bus: dict[str, str], management: ManagementApiFake, recorder: Recorder
) -> None:
    reader = StreamReader()
    connect("EVC000000000001=", "carol")
    run_events(reader, recorder)
    [envelope] = delivered(given_bus["queue"])
    assert envelope["detail-type"] == "connection.opened"
    assert_granted(recorder, "EventsFunction", "event-bus")
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/apps-bus"
    assert ("events:PutEvents", arn) in recorder.needs("EventsFunction")
    assert ungranted({("events:PutEvents", arn)}, granted_to("EventsFunction")) == {
        ("events:PutEvents", arn)
    }


def test_the_function_refuses_to_start_without_its_settings(
    streams: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard.errors import ConfigurationError

    monkeypatch.delenv("EVENT_BUS_NAME")
    box = Container.from_settings(Settings.from_env())
    with pytest.raises(ConfigurationError, match=r"^EVENT_BUS_NAME must name the EventBridge bus$"):
        box.event_bus()
    monkeypatch.delenv("CHANNEL_STATES_TABLE")
    box = Container.from_settings(Settings.from_env())
    with pytest.raises(
        ConfigurationError, match=r"^CHANNEL_STATES_TABLE must name the channel states table$"
    ):
        box.occupancy()
    assert box.event_tables().subscriptions == box.settings.subscriptions_table
