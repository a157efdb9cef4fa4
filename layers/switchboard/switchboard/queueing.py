"""Fan-out beyond one Lambda: batches of connection ids on SQS, for the fan-out worker.

Above ``FANOUT_QUEUE_THRESHOLD`` recipients (and only when ``FANOUT_QUEUE_URL`` is set),
a publish hands its recipients to :class:`SqsOverflow`, which sends them as
:class:`FanoutBatch` messages of up to ``FANOUT_BATCH_SIZE`` ids each. The fan-out worker
function (``functions/fanout_worker``) delivers each message with :class:`BatchWorker`:

* a message is the batch's JSON header on the first line, then the frame's exact bytes
  (frames are JSON text, so nothing is escaped or base64-inflated);
* recipients that are still throttled after the fan-out's own retries go back on the
  queue as a smaller follow-up message, delayed, up to ``MAX_GENERATIONS`` times; past
  that the record fails, SQS retries it, and its redrive policy parks it in the
  dead-letter queue. Successful recipients are never re-sent by a follow-up;
* the worker only posts to this deployment's Management API (the configured override,
  or an ``execute-api`` URL of its own region), whatever a message says.

Ids that cannot be enqueued (SQS refused them twice) come back to the fan-out in
:attr:`FanoutReport.unfinished`, and the publisher delivers them inline.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from switchboard.errors import SwitchboardError
from switchboard.fanout import FanoutReport

logger = logging.getLogger(__name__)

MESSAGE_LIMIT = 256 * 1024  # bytes per SQS message, and per SendMessageBatch call
BATCH_ENTRIES = 10  # entries per SendMessageBatch call
MAX_GENERATIONS = 3
FORMAT_VERSION = 1


class BatchError(SwitchboardError):
    """A queued batch cannot be delivered as it stands (bad format or endpoint)."""


class IncompleteFanoutError(SwitchboardError):
    """Some recipients of a batch are still throttled after every follow-up."""

    def __init__(self, remaining: int) -> None:
        super().__init__(f"{remaining} recipients still throttled after {MAX_GENERATIONS} tries")
        self.remaining = remaining


@dataclass(frozen=True)
class FanoutBatch:
    """Up to ``FANOUT_BATCH_SIZE`` recipients of one frame, as one SQS message."""

    endpoint: str
    connection_ids: list[str]
    data: bytes
    generation: int = 0

    def encode(self) -> str:
        """The message body: a one-line JSON header, a newline, the frame."""
        header = {
            "v": FORMAT_VERSION,
            "endpoint": self.endpoint,
            "generation": self.generation,
            "ids": self.connection_ids,
        }
        return json.dumps(header, separators=(",", ":")) + "\n" + self.data.decode()

    @classmethod
    def decode(cls, body: str) -> FanoutBatch:
        """Parse a message body; raises :exc:`BatchError` for anything else."""
        head, newline, frame = body.partition("\n")
        try:
            header = json.loads(head)
        except ValueError:
            raise BatchError("the batch header is not JSON") from None
        if (
            not newline
            or not isinstance(header, dict)
            or header.get("v") != FORMAT_VERSION
            or not isinstance(header.get("endpoint"), str)
            or not isinstance(header.get("generation"), int)
            or not isinstance(header.get("ids"), list)
            or not all(isinstance(i, str) for i in header["ids"])
        ):
            raise BatchError("not a fan-out batch")
        return cls(header["endpoint"], header["ids"], frame.encode(), header["generation"])


def _size(body: str) -> int:
    return len(body.encode())


class SqsOverflow:
    """Sends a large fan-out's recipients to SQS in batches (a :class:`fanout.Overflow`)."""

    def __init__(
        self,
        client: Callable[[], Any],
        queue_url: str,
        endpoint: str,
        *,
        threshold: int,
        batch_size: int,
        generation: int = 0,
        delay_seconds: int = 0,
    ) -> None:
        self._client = client  # called on the first send: no SQS client on the cold path
        self.queue_url = queue_url
        self.endpoint = endpoint
        self.threshold = threshold
        self.batch_size = max(1, min(batch_size, threshold))
        self._generation = generation
        self._delay = delay_seconds

    def enqueue(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Queue every recipient; the ones SQS refused come back as ``unfinished``."""
        report = FanoutReport()
        pending: list[tuple[str, list[str]]] = []
        pending_size = 0
        for ids, body in self._messages(iter(connection_ids), data, report):
            size = _size(body)
            if pending and (len(pending) == BATCH_ENTRIES or pending_size + size > MESSAGE_LIMIT):
                self._send(pending, report)
                pending, pending_size = [], 0
            pending.append((body, ids))
            pending_size += size
        if pending:
            self._send(pending, report)
        return report

    def _messages(
        self, ids: Iterator[str], data: bytes, report: FanoutReport
    ) -> Iterator[tuple[list[str], str]]:
        while chunk := list(islice(ids, self.batch_size)):
            yield from self._fit(chunk, data, report)

    def _fit(
        self, chunk: list[str], data: bytes, report: FanoutReport
    ) -> Iterator[tuple[list[str], str]]:
        body = FanoutBatch(self.endpoint, chunk, data, self._generation).encode()
        if _size(body) <= MESSAGE_LIMIT:
            yield chunk, body
        elif len(chunk) == 1:  # the frame alone does not fit: deliver it inline
            report.unfinished.extend(chunk)
        else:
            half = len(chunk) // 2
            yield from self._fit(chunk[:half], data, report)
            yield from self._fit(chunk[half:], data, report)

    def _send(self, messages: list[tuple[str, list[str]]], report: FanoutReport) -> None:
        entries = {str(n): message for n, message in enumerate(messages)}
        for _attempt in range(2):
            try:
                response = self._client().send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": key, "MessageBody": body, "DelaySeconds": self._delay}
                        for key, (body, _ids) in entries.items()
                    ],
                )
            except Exception:
                logger.exception("enqueueing a fan-out batch failed")
                continue
            for ok in response.get("Successful", []):
                report.queued += len(entries.pop(ok["Id"])[1])
            if not entries:
                return
        for _body, ids in entries.values():
            report.unfinished.extend(ids)


class BatchWorker:
    """Delivers queued batches: the fan-out worker function's logic."""

    def __init__(
        self,
        deliver: Callable[[str, list[str], bytes], FanoutReport],
        requeue: Callable[[FanoutBatch, int], FanoutReport],
        allowed_endpoint: Callable[[str], bool],
    ) -> None:
        self._deliver = deliver
        self._requeue = requeue
        self._allowed = allowed_endpoint

    def handle(self, body: str) -> FanoutReport:
        """Deliver one message's batch; raises when the record should be retried by SQS."""
        batch = FanoutBatch.decode(body)
        if not self._allowed(batch.endpoint):
            raise BatchError("the batch names another Management API endpoint")
        report = self._deliver(batch.endpoint, batch.connection_ids, batch.data)
        unfinished, report.unfinished = report.unfinished, []
        if not unfinished:
            return report
        if batch.generation >= MAX_GENERATIONS:
            raise IncompleteFanoutError(len(unfinished))
        follow_up = FanoutBatch(batch.endpoint, unfinished, batch.data, batch.generation + 1)
        requeued = self._requeue(follow_up, follow_up_delay(follow_up.generation))
        if requeued.unfinished:
            raise IncompleteFanoutError(len(requeued.unfinished))
        report.failed -= requeued.queued
        report.queued += requeued.queued
        return report


def follow_up_delay(generation: int) -> int:
    """Seconds before follow-up number ``generation`` is delivered (SQS allows 900)."""
    delay: int = min(900, 2**generation)
    return delay


def endpoint_check(override: str | None, region: str) -> Callable[[str], bool]:
    """Which endpoints the worker may post to: the override, or this region's APIs."""
    if override:
        allowed = override.rstrip("/")
        return lambda endpoint: endpoint.rstrip("/") == allowed
    pattern = re.compile(
        rf"^https://[a-z0-9]{{10}}\.execute-api\.{re.escape(region)}\.amazonaws\.com"
        r"/[A-Za-z0-9_-]{1,128}$"
    )
    return lambda endpoint: pattern.match(endpoint) is not None


def sqs_client(region: str) -> Any:
    """A botocore SQS client (no boto3 import on the cold path)."""
    from botocore.config import Config
    from botocore.session import get_session

    config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3)
    return get_session().create_client("sqs", region_name=region, config=config)
