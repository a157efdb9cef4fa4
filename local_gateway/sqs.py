"""The template's SQS queues and event sources, on the embedded moto server.

Every ``AWS::SQS::Queue`` is created in moto (visibility timeout, retention, redrive policy to
its dead-letter queue); moto implements visibility timeouts, receive counts and the move to
the dead-letter queue after ``maxReceiveCount`` receives. Each ``SQS`` event of a function gets
an :class:`EventSourcePoller`, as Lambda's event source mapping: it long-polls the queue,
invokes the function through its worker pool with Lambda's SQS event (:func:`sqs_event`), and
deletes the records that succeeded (:func:`succeeded`: all of them, or, with
``ReportBatchItemFailures``, the ones not listed in ``batchItemFailures``; none when the
function raised). Failed records come back after the queue's visibility timeout. At most
``ScalingConfig.MaximumConcurrency`` invocations of one event source run at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local_gateway.eventlog import EventLog
from local_gateway.faults import Faults
from local_gateway.local_aws import client
from local_gateway.template import REGION, QueueSpec, SqsEventSource
from local_gateway.workers import FunctionPool, InvocationError

__all__ = [
    "EventSourcePoller",
    "create_queues",
    "sqs_client",
    "sqs_event",
    "succeeded",
]

POLL_WAIT_SECONDS = 1  # long polls this short keep shutdown fast
RECEIVE_LIMIT = 10  # messages per ReceiveMessage call
# The system attributes that Lambda puts in a record's "attributes" (when SQS has them).
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def sqs_client(endpoint: str) -> Any:
    """A boto3 SQS client of the local endpoint."""
    return client("sqs", endpoint, attempts=2)


def create_queues(
    endpoint: str, queues: Iterable[QueueSpec], *, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Create every queue (dead-letter targets exist before a redrive policy names them);
    ``visibility_timeout`` overrides each queue's. Returns logical id -> queue URL."""
    client = sqs_client(endpoint)
    urls: dict[str, str] = {}
    redrive: dict[str, str] = {}
    for queue in queues:
        attributes = dict(queue.attributes)
        if "RedrivePolicy" in attributes:
            redrive[queue.logical_id] = attributes.pop("RedrivePolicy")
        if visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        urls[queue.logical_id] = client.create_queue(QueueName=queue.name, Attributes=attributes)[
            "QueueUrl"
        ]
    for logical_id, policy in redrive.items():
        client.set_queue_attributes(QueueUrl=urls[logical_id], Attributes={"RedrivePolicy": policy})
    return urls


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's ``{"StringValue", "BinaryValue", "DataType"}``, as Lambda writes it."""
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Lambda's SQS event for messages as ReceiveMessage returns them (``All`` attributes)."""
    records = []
    for message in messages:
        system = message.get("Attributes") or {}
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message.get("Body", ""),
            "attributes": {key: system[key] for key in RECORD_ATTRIBUTES if key in system},
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def succeeded(
    records: Sequence[Mapping[str, Any]], result: Any, *, report_batch_item_failures: bool
) -> list[Mapping[str, Any]]:
    """The records to delete after an invocation that returned ``result``.

    Without ``ReportBatchItemFailures``, all of them. With it, the ones not named by an
    ``itemIdentifier`` of ``batchItemFailures``; as Lambda, a failure without a valid
    identifier (empty, or no record of the batch) fails the whole batch.
    """
    if not report_batch_item_failures or not isinstance(result, dict):
        return list(records)
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return []
    ids = {record["messageId"] for record in records}
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in ids:
            return []
        failed.add(identifier)
    return [record for record in records if record["messageId"] not in failed]


class EventSourcePoller:
    """One SQS event source mapping: polls its queue, invokes its function, deletes."""

    def __init__(
        self,
        source: SqsEventSource,
        *,
        queue: QueueSpec,
        queue_url: str,
        endpoint: str,
        pool: Callable[[], FunctionPool],
        log: EventLog,
        concurrency: int,
        faults: Faults | None = None,
    ) -> None:
        self.source = source
        self.faults = faults or Faults()  # batches redelivered on purpose, when on
        self.queue = queue
        self.queue_url = queue_url
        self.pool = pool  # looked up per invocation: the pool of the function as it is now
        self.log = log
        self.concurrency = max(1, concurrency)
        self._client = sqs_client(endpoint)
        self._receiver = ThreadPoolExecutor(1, thread_name_prefix=f"sqs-{queue.name}")
        self._slots = asyncio.Semaphore(self.concurrency)
        self._invocations: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling."""
        self._task = asyncio.create_task(self._poll())

    async def close(self) -> None:
        """Stop polling; invocations under way finish (or are stopped with the workers)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._invocations):
            task.cancel()
        if self._invocations:
            await asyncio.gather(*self._invocations, return_exceptions=True)
        await asyncio.to_thread(self._receiver.shutdown)

    def _receive(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages: a long poll, then more while full receives come back."""
        messages: list[dict[str, Any]] = []
        wait = POLL_WAIT_SECONDS
        while len(messages) < self.source.batch_size:
            wanted = min(RECEIVE_LIMIT, self.source.batch_size - len(messages))
            received = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            if len(received) < wanted:
                break
            wait = 0
        return messages

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # MaximumConcurrency: no receive without a free slot
            try:
                messages = await loop.run_in_executor(self._receiver, self._receive)
            except Exception as exc:  # moto stopping, a transient error: try again shortly
                self._slots.release()
                self.log.event("SQS", self.queue.name, "ReceiveMessage", f"error {exc}")
                await asyncio.sleep(1)
                continue
            if not messages:
                self._slots.release()
                continue
            task = asyncio.create_task(self._invoke(messages))
            self._invocations.add(task)
            task.add_done_callback(self._invocations.discard)

    async def _invoke(self, messages: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        function = self.source.function
        try:
            event = sqs_event(messages, self.queue.arn)
            records = event["Records"]
            subject = f"-> {function} {len(records)} record{'s' if len(records) != 1 else ''}"
            try:
                result = await self.pool().invoke(event)
            except InvocationError as exc:
                millis = (time.monotonic() - started) * 1000
                self.log.event(
                    "SQS", self.queue.name, f"{subject} {exc.error_type}: {exc}", "error", millis
                )
                return  # nothing deleted: every record comes back after the visibility timeout
            done = succeeded(
                records, result, report_batch_item_failures=self.source.report_batch_item_failures
            )
            done = self.faults.deletable(done)
            if done:
                await asyncio.to_thread(self._delete, done)
            failed = len(records) - len(done)
            status = "ok" if not failed else f"{failed} failed"
            self.log.event(
                "SQS", self.queue.name, subject, status, (time.monotonic() - started) * 1000
            )
        finally:
            self._slots.release()

    def _delete(self, records: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(records), RECEIVE_LIMIT):
            chunk = records[start : start + RECEIVE_LIMIT]
            self._client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": record["receiptHandle"]}
                    for n, record in enumerate(chunk)
                ],
            )
