"""The template's SQS queues and event sources under the local gateway: the fan-out queue
served by the embedded moto server and polled for the fan-out worker, as on AWS."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from local_gateway.dynamodb import embedded_moto
from local_gateway.eventlog import EventLog
from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.sqs import EventSourcePoller, create_queues, sqs_client, sqs_event, succeeded
from local_gateway.template import QueueSpec, SqsEventSource, load_application
from local_gateway.token import sign_token
from local_gateway.workers import InvocationError
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway, subscribed_clients
from tests.e2e.sentinel import SENTINEL, frames_before_sentinel

pytestmark = pytest.mark.e2e

SUBSCRIBERS = 5
WORKER_LINE = "-> FanoutWorkerFunction "
THRESHOLD = 2


@pytest.fixture(scope="module")
def switchboard(start_gateway: StartGateway) -> GatewayProcess:
    """The real application with a fan-out threshold low enough for a handful of clients."""
    return start_gateway(
        template=ROOT / "template.yaml",
        extra_args=["--no-watch"],
        function_env={"FANOUT_QUEUE_THRESHOLD": str(THRESHOLD)},
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with embedded_moto() as endpoint:
        yield endpoint


def test_the_projects_queues_resolve_to_local_urls() -> None:
    app = load_application(ROOT / "template.yaml", queue_endpoint="http://127.0.0.1:9")
    default = app.functions["DefaultFunction"]
    assert default.environment["FANOUT_QUEUE_URL"] == (
        "http://127.0.0.1:9/123456789012/FanoutQueue"
    )
    queues = {queue.logical_id: queue for queue in app.queues}
    redrive = json.loads(queues["FanoutQueue"].attributes["RedrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": queues["FanoutDeadLetterQueue"].arn,
        "maxReceiveCount": 3,
    }
    assert queues["FanoutQueue"].attributes["VisibilityTimeout"] == "360"
    (source,) = app.sqs_events
    assert source == SqsEventSource(
        function="FanoutWorkerFunction",
        queue="FanoutQueue",
        batch_size=10,
        report_batch_item_failures=True,
        maximum_concurrency=4,
    )
    assert all(kind != "SQS" for _function, kind in app.unserved_events)


def test_a_publish_above_the_threshold_fans_out_through_sqs_exactly_once(
    switchboard: GatewayProcess,
) -> None:
    channel = "room:sqs-fanout"
    start = len(switchboard.lines)
    publisher_token = sign_token(DEFAULT_WS_SECRET, "publisher")
    with contextlib.ExitStack() as stack:
        clients = subscribed_clients(stack, switchboard, channel, SUBSCRIBERS)
        publisher = stack.enter_context(connect(f"{switchboard.url}?token={publisher_token}"))
        publisher.send(
            json.dumps({"action": "publish", "channel": channel, "data": {"n": 1}, "id": "p"})
        )
        ack = json.loads(publisher.recv(timeout=10))
        assert (ack["type"], ack["id"]) == ("ack", "p"), ack
        assert ack.get("queued") == SUBSCRIBERS, ack  # handed to SQS, none delivered inline
        seqs = []
        for client in clients:
            message = json.loads(client.recv(timeout=15))
            assert (message["type"], message["channel"], message["data"]) == (
                "message",
                channel,
                {"n": 1},
            )
            seqs.append(message["seq"])
        # Exactly once: a sentinel published after it is the next message each one gets
        # (a redelivered batch would send the first one again before it).
        publisher.send(
            json.dumps({"action": "publish", "channel": channel, "data": SENTINEL, "id": "s"})
        )
        ack = json.loads(publisher.recv(timeout=10))
        assert (ack["type"], ack["id"], ack.get("queued")) == ("ack", "s", SUBSCRIBERS), ack
        for client, seq in zip(clients, seqs, strict=True):
            *between, sentinel = frames_before_sentinel(client, channel)
            assert between == []
            assert sentinel["seq"] == seq + 1

    def records(lines: list[str]) -> int:
        invoked = [line for line in lines[start:] if WORKER_LINE in line and " SQS " in line]
        return sum(int(line.split(WORKER_LINE)[1].split()[0]) for line in invoked)

    # 5 recipients in batches of at most THRESHOLD ids: 3 messages per publish, in one or
    # more invocations, every one ok.
    switchboard.wait_until(lambda lines: records(lines) >= 6, 15, "6 records of the worker")
    assert records(switchboard.lines) == 6
    assert not any(
        WORKER_LINE in line and " SQS " in line and " ok " not in line
        for line in switchboard.lines[start:]
    )


def test_the_event_is_lambdas_sqs_event(moto: str) -> None:
    queue = QueueSpec("Shape", "Shape", {})
    (url,) = create_queues(moto, [queue]).values()
    client = sqs_client(moto)
    client.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    messages = client.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
    )["Messages"]
    event = sqs_event(messages, queue.arn)
    (record,) = event["Records"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["body"] == "hello"
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "us-east-1")
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:Shape"
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "greeting"
    assert record["messageAttributes"]["raw"]["binaryValue"] == "AAE="

    from aws_lambda_powertools.utilities.parser.models import SqsModel

    parsed = SqsModel.model_validate(event)
    assert parsed.Records[0].body == "hello"
    assert parsed.Records[0].attributes.ApproximateReceiveCount == "1"


def test_batch_item_failures_select_the_records_to_delete() -> None:
    records = [{"messageId": "a"}, {"messageId": "b"}]
    assert succeeded(records, None, report_batch_item_failures=False) == records
    assert succeeded(records, None, report_batch_item_failures=True) == records
    partial = {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert succeeded(records, partial, report_batch_item_failures=True) == [{"messageId": "a"}]
    assert succeeded(records, partial, report_batch_item_failures=False) == records
    unknown = {"batchItemFailures": [{"itemIdentifier": "zzz"}]}
    assert succeeded(records, unknown, report_batch_item_failures=True) == []
    assert succeeded(records, {"batchItemFailures": []}, report_batch_item_failures=True) == records


class _Pool:
    """A function pool stand-in: reports every record whose body is "fail" as failed."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.receive_counts: list[tuple[str, str]] = []

    async def invoke(self, event: Mapping[str, Any]) -> Any:
        records = event["Records"]
        for record in records:
            self.bodies.append(record["body"])
            self.receive_counts.append(
                (record["body"], record["attributes"]["ApproximateReceiveCount"])
            )
        return {
            "batchItemFailures": [
                {"itemIdentifier": record["messageId"]}
                for record in records
                if record["body"] == "fail"
            ]
        }


def test_a_reported_failure_is_redelivered_then_parked_in_the_dead_letter_queue(
    moto: str, tmp_path: Path
) -> None:
    dead = QueueSpec("Dead", "Dead", {})
    work = QueueSpec(
        "Work",
        "Work",
        {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead.arn, "maxReceiveCount": 2})},
    )
    urls = create_queues(moto, [work, dead], visibility_timeout=1)
    client = sqs_client(moto)
    client.send_message(QueueUrl=urls["Work"], MessageBody="ok")
    client.send_message(QueueUrl=urls["Work"], MessageBody="fail")
    pool = _Pool()
    with (tmp_path / "log").open("w") as stream:
        log = EventLog(stream)

        async def scenario() -> None:
            poller = EventSourcePoller(
                SqsEventSource("Fn", "Work", batch_size=10, report_batch_item_failures=True),
                queue=work,
                queue_url=urls["Work"],
                endpoint=moto,
                pool=lambda: pool,  # type: ignore[arg-type,return-value]
                log=log,
                concurrency=2,
            )
            poller.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                dead_letters = client.get_queue_attributes(
                    QueueUrl=urls["Dead"], AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
                if dead_letters == "1":
                    break
                await asyncio.sleep(0.2)
            await poller.close()

        asyncio.run(scenario())
    counts = Counter(pool.bodies)
    assert counts == {"ok": 1, "fail": 2}  # redelivered once, then moved (maxReceiveCount 2)
    assert ("fail", "2") in pool.receive_counts
    (parked,) = client.receive_message(QueueUrl=urls["Dead"])["Messages"]
    assert parked["Body"] == "fail"
    assert "Messages" not in client.receive_message(QueueUrl=urls["Work"])
    lines = (tmp_path / "log").read_text().splitlines()
    assert any("SQS" in line and "Work" in line and "1 failed" in line for line in lines)


class _FlakyPool:
    """Raises on its first invocation (the handler failed), then succeeds; counts what runs
    at once."""

    def __init__(self, *, fail_first: bool, hold: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hold = hold
        self.bodies: list[str] = []
        self.running = 0
        self.most = 0

    async def invoke(self, event: Mapping[str, Any]) -> Any:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.hold)
            self.bodies.extend(record["body"] for record in event["Records"])
            if self.fail_first:
                self.fail_first = False
                raise InvocationError({"errorType": "Boom", "errorMessage": "boom"})
            return None
        finally:
            self.running -= 1


def _drain(
    moto: str, name: str, bodies: list[str], pool: _FlakyPool, *, batch_size: int, concurrency: int
) -> str:
    """Send ``bodies``, poll until the queue is empty; the event log's text."""
    queue = QueueSpec(name, name, {})
    url = create_queues(moto, [queue], visibility_timeout=1)[name]
    client = sqs_client(moto)
    for body in bodies:
        client.send_message(QueueUrl=url, MessageBody=body)
    stream = io.StringIO()

    async def scenario() -> None:
        poller = EventSourcePoller(
            SqsEventSource("Fn", name, batch_size=batch_size),
            queue=queue,
            queue_url=url,
            endpoint=moto,
            pool=lambda: pool,  # type: ignore[arg-type,return-value]
            log=EventLog(stream),
            concurrency=concurrency,
        )
        poller.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            attributes = client.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            if set(attributes.values()) == {"0"}:
                break
            await asyncio.sleep(0.1)
        await poller.close()

    asyncio.run(scenario())
    return stream.getvalue()


def test_a_handler_error_deletes_no_record_of_the_batch(moto: str) -> None:
    pool = _FlakyPool(fail_first=True)
    log = _drain(moto, "Errors", ["a", "b"], pool, batch_size=10, concurrency=1)
    assert Counter(pool.bodies) == {"a": 2, "b": 2}  # both came back after the timeout
    assert "Boom: boom error" in log


def test_maximum_concurrency_bounds_the_invocations_at_once(moto: str) -> None:
    pool = _FlakyPool(fail_first=False, hold=0.2)
    bodies = [str(n) for n in range(8)]
    _drain(moto, "Bounded", bodies, pool, batch_size=1, concurrency=2)
    assert sorted(pool.bodies) == bodies
    assert pool.most == 2
