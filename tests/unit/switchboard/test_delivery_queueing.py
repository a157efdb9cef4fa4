"""SQS batching, pacing and the engine setting, with in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from switchboard import container, queueing
from switchboard.config import Settings
from switchboard.delivery import DeliveryEngine
from switchboard.errors import ConfigurationError
from switchboard.fanout import Fanout, FanoutReport, Pacer
from switchboard.queueing import (
    MESSAGE_LIMIT,
    BatchError,
    BatchWorker,
    FanoutBatch,
    IncompleteFanoutError,
    SqsOverflow,
    endpoint_check,
)
from switchboard.sender import Boto3Sender

ENDPOINT = "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"


class FakeSqs:
    """``send_message_batch`` that records, and refuses what it is told to."""

    def __init__(self, refuse: int = 0, explode: int = 0) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse = refuse  # how many calls answer every entry as Failed
        self.explode = explode  # how many calls raise

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.explode:
            self.explode -= 1
            raise RuntimeError("SQS is down")
        if self.refuse:
            self.refuse -= 1
            failed = [
                {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in Entries
            ]
            return {"Successful": [], "Failed": failed}
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def bodies(self) -> list[FanoutBatch]:
        return [FanoutBatch.decode(e["MessageBody"]) for call in self.calls for e in call]


def overflow(sqs: FakeSqs, threshold: int = 10, batch_size: int = 4) -> SqsOverflow:
    return SqsOverflow(lambda: sqs, "url", ENDPOINT, threshold=threshold, batch_size=batch_size)


def test_a_batch_round_trips_byte_for_byte() -> None:
    frame = '{"type":"message","data":"héllo\\n\\"quoted\\"","seq":1}'.encode()
    batch = FanoutBatch(ENDPOINT, ["a=", "b="], frame, generation=2)
    assert FanoutBatch.decode(batch.encode()) == batch


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("{}", id="no-newline"),
        pytest.param("[]\n{}", id="not-an-object"),
        pytest.param('{"v":2,"endpoint":"e","generation":0,"ids":[]}\n{}', id="version"),
        pytest.param('{"v":1,"endpoint":"e","generation":0,"ids":[1]}\n{}', id="ids"),
        pytest.param("{\n{}", id="not-json"),
    ],
)
def test_anything_else_is_a_batch_error(body: str) -> None:
    with pytest.raises(BatchError):
        FanoutBatch.decode(body)


def test_recipients_go_in_batches_of_ten_entries_per_call() -> None:
    sqs = FakeSqs()
    ids = [f"c{n}=" for n in range(95)]
    report = overflow(sqs, threshold=50, batch_size=4).enqueue(ids, b"{}")
    assert (report.queued, report.unfinished) == (95, [])
    assert [len(call) for call in sqs.calls] == [10, 10, 4]
    assert [i for b in sqs.bodies() for i in b.connection_ids] == ids


def test_the_batch_size_never_exceeds_the_threshold() -> None:
    assert overflow(FakeSqs(), threshold=3, batch_size=100).batch_size == 3


def test_large_frames_split_messages_and_calls_under_the_sqs_limit() -> None:
    sqs = FakeSqs()
    frame = b'"' + b"x" * (100 * 1024) + b'"'
    ids = [f"conn{n:04d}=" for n in range(6)]
    report = overflow(sqs, batch_size=6).enqueue(ids, frame)
    assert report.queued == 6
    for call in sqs.calls:
        assert sum(len(e["MessageBody"].encode()) for e in call) <= MESSAGE_LIMIT
    assert sorted(i for b in sqs.bodies() for i in b.connection_ids) == ids


def test_a_frame_that_cannot_fit_is_left_for_inline_delivery() -> None:
    sqs = FakeSqs()
    report = overflow(sqs).enqueue(["a="], b"x" * MESSAGE_LIMIT)
    assert (report.queued, report.unfinished, sqs.calls) == (0, ["a="], [])


@pytest.mark.parametrize(
    ("sqs", "queued"),
    [
        pytest.param(FakeSqs(refuse=1), 3, id="refused-once-then-sent"),
        pytest.param(FakeSqs(explode=1), 3, id="raised-once-then-sent"),
        pytest.param(FakeSqs(refuse=2), 0, id="refused-twice"),
    ],
)
def test_sqs_failures_are_retried_once_then_left_unfinished(sqs: FakeSqs, queued: int) -> None:
    report = overflow(sqs).enqueue(["a=", "b=", "c="], b"{}")
    assert report.queued == queued
    assert sorted(report.unfinished) == ([] if queued else ["a=", "b=", "c="])


def test_the_fanout_delivers_what_the_overflow_could_not_queue() -> None:
    class HalfQueue:
        threshold = 2

        def enqueue(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
            ids = list(connection_ids)
            report = FanoutReport(queued=len(ids) // 2)
            report.unfinished = ids[len(ids) // 2 :]
            return report

    posted: list[str] = []
    fanout = Fanout(lambda cid, _d: posted.append(cid), lambda _c: None, overflow=HalfQueue())
    assert fanout.deliver(["a", "b"], b"m").as_dict() == {
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }
    report = fanout.deliver(["c", "d", "e", "f"], b"m")
    assert report.as_dict() == {"delivered": 2, "pruned": 0, "failed": 0, "queued": 2}
    assert sorted(posted) == ["a", "b", "e", "f"]


def test_the_pacer_spaces_posts() -> None:
    now = [100.0]
    pacer = Pacer(4, clock=lambda: now[0])
    assert [pacer.delay() for _ in range(3)] == [0.0, 0.25, 0.5]
    now[0] = 200.0
    assert pacer.delay() == 0.0


def test_a_paced_fanout_sleeps_between_posts() -> None:
    slept: list[float] = []
    fanout = Fanout(lambda _c, _d: None, lambda _c: None, max_rate=1000, sleep=slept.append)
    fanout.deliver(["a"], b"m")
    fanout.deliver(["b"], b"m")
    assert len(slept) <= 1
    assert all(0 < s <= 0.001 for s in slept)


def test_the_worker_requeues_only_the_unfinished() -> None:
    requeued: list[tuple[FanoutBatch, int]] = []

    def deliver(endpoint: str, ids: list[str], data: bytes) -> FanoutReport:
        report = FanoutReport(delivered=len(ids) - 1, failed=1)
        report.unfinished = [ids[-1]]
        return report

    def requeue(batch: FanoutBatch, delay: int) -> FanoutReport:
        requeued.append((batch, delay))
        return FanoutReport(queued=len(batch.connection_ids))

    worker = BatchWorker(deliver, requeue, lambda _e: True)
    report = worker.handle(FanoutBatch(ENDPOINT, ["a=", "b="], b"{}").encode())
    assert report.as_dict() == {"delivered": 1, "pruned": 0, "failed": 0, "queued": 1}
    assert [(b.connection_ids, b.generation, d) for b, d in requeued] == [(["b="], 1, 2)]


def test_the_worker_fails_the_record_when_the_follow_up_cannot_be_queued() -> None:
    def deliver(endpoint: str, ids: list[str], data: bytes) -> FanoutReport:
        report = FanoutReport(failed=1)
        report.unfinished = ids
        return report

    def requeue(batch: FanoutBatch, delay: int) -> FanoutReport:
        report = FanoutReport()
        report.unfinished = batch.connection_ids
        return report

    worker = BatchWorker(deliver, requeue, lambda _e: True)
    with pytest.raises(IncompleteFanoutError):
        worker.handle(FanoutBatch(ENDPOINT, ["a="], b"{}").encode())


@pytest.mark.parametrize(
    ("override", "endpoint", "allowed"),
    [
        pytest.param(None, ENDPOINT, True, id="this-region"),
        pytest.param(None, ENDPOINT.replace("us-east-1", "eu-west-1"), False, id="other-region"),
        pytest.param(None, "https://evil.example/prod", False, id="other-host"),
        pytest.param(None, ENDPOINT + "/../x", False, id="path-games"),
        pytest.param("http://127.0.0.1:3001/", "http://127.0.0.1:3001", True, id="override"),
        pytest.param("http://127.0.0.1:3001", ENDPOINT, False, id="not-the-override"),
    ],
)
def test_the_worker_posts_only_to_this_deployment(
    override: str | None, endpoint: str, allowed: bool
) -> None:
    assert endpoint_check(override, "us-east-1")(endpoint) is allowed


def test_follow_ups_back_off_up_to_the_sqs_maximum() -> None:
    assert [queueing.follow_up_delay(g) for g in (1, 2, 3, 20)] == [2, 4, 8, 900]


# ------------------------------------------------------------------ settings


def test_the_engine_setting() -> None:
    assert Settings.from_env({}).delivery_engine == "fast"
    assert Settings.from_env({"DELIVERY_ENGINE": "boto3"}).delivery_engine == "boto3"
    with pytest.raises(ConfigurationError, match="DELIVERY_ENGINE"):
        Settings.from_env({"DELIVERY_ENGINE": "carrier-pigeon"})


def test_queue_settings() -> None:
    settings = Settings.from_env(
        {
            "FANOUT_QUEUE_URL": "https://sqs/q",
            "FANOUT_QUEUE_THRESHOLD": "1000",
            "FANOUT_BATCH_SIZE": "50",
            "FANOUT_RATE_LIMIT": "2000",
        }
    )
    assert (
        settings.fanout_queue_url,
        settings.fanout_queue_threshold,
        settings.fanout_batch_size,
        settings.fanout_rate_limit,
    ) == ("https://sqs/q", 1000, 50, 2000)
    assert Settings.from_env({}).fanout_queue_url is None
    assert Settings.from_env({"FANOUT_QUEUE_URL": "FanoutQueue"}).fanout_queue_url is None


@pytest.mark.parametrize(
    ("engine", "kind"), [("fast", DeliveryEngine), ("boto3", Boto3Sender)], ids=["fast", "boto3"]
)
def test_the_container_chooses_the_sender_by_setting(
    monkeypatch: pytest.MonkeyPatch, engine: str, kind: type
) -> None:
    monkeypatch.setenv("DELIVERY_ENGINE", engine)
    container.reset()
    try:
        box = container.current()
        out = box.sender("http://127.0.0.1:9/dev")
        assert type(out) is kind
        assert box.sender("http://127.0.0.1:9/dev") is out  # one per endpoint and container
        assert box.overflow("http://127.0.0.1:9/dev") is None
    finally:
        container.reset()


# ------------------------------------------------------------------ tracing


def test_no_xray_tracer_when_tracing_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard import tracing

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = tracing.handler_tracer()
    assert isinstance(tracer, tracing.DisabledTracer)

    def handler(event: Any, context: Any) -> str:
        return "answer"

    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_lambda_handler(handler) is handler


def test_the_powertools_tracer_when_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools import Tracer

    from switchboard import tracing

    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    assert isinstance(tracing.handler_tracer(), Tracer)
    assert tracing.tracing_disabled({"POWERTOOLS_TRACE_DISABLED": "1"})
    assert not tracing.tracing_disabled({})


def test_the_sqs_client_is_made_on_the_first_send_only() -> None:
    made: list[FakeSqs] = []

    def client() -> FakeSqs:
        made.append(FakeSqs())
        return made[-1]

    queue = SqsOverflow(client, "url", ENDPOINT, threshold=2, batch_size=2)
    assert made == []  # a publish below the threshold never pays for an SQS client
    queue.enqueue(["a=", "b=", "c="], b"{}")
    assert len(made) == 1
    assert [len(entries) for entries in made[0].calls] == [2]
