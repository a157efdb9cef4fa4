"""local_gateway.faults: the FAULTS syntax, each fault as the handlers' clients meet it."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from local_gateway.dynamodb import embedded_moto
from local_gateway.faults import FaultError, Faults, FaultSettings, parse_faults
from local_gateway.local_aws import client as local_client
from local_gateway.template import FunctionSpec
from local_gateway.workers import FunctionPool, InvocationError


def test_the_syntax_reads_rates_seconds_functions_and_a_seed() -> None:
    settings = parse_faults(
        " post_429=0.05, post_delay=1.5 ,kill=0.01,functions=DefaultFunction|Other,seed=7,"
    )
    assert settings == FaultSettings(
        post_429=0.05,
        post_delay=1.5,
        kill=0.01,
        functions=("DefaultFunction", "Other"),
        seed=7,
    )
    assert settings.enabled
    assert settings.describe() == "post_429=0.05,kill=0.01,functions=DefaultFunction|Other"
    assert not FaultSettings().enabled
    assert not Faults().active


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("post_429", "is not name=value", id="no-value"),
        pytest.param("post_999=0.1", "unknown fault 'post_999'", id="unknown"),
        pytest.param("post_429=1.5", "post_429 must be 0 to 1", id="rate-above-one"),
        pytest.param("kill=nan", "kill must be 0 to 1", id="nan"),
        pytest.param("post_delay=-1", "post_delay must be a finite number", id="negative-delay"),
        pytest.param("post_delay=inf", "post_delay must be a finite number", id="infinite-delay"),
        pytest.param("kill=x", "kill must be a number", id="not-a-number"),
        pytest.param("seed=1.5", "seed must be an integer", id="seed"),
        pytest.param("ack_lost=0.5", "ack_lost must be an integer", id="ack-lost-fraction"),
        pytest.param("ack_lost=-1", "ack_lost must be a count >= 0", id="ack-lost-negative"),
        pytest.param("functions=|", "functions needs at least one", id="no-functions"),
        pytest.param("kill=0.1,kill=0.2", "kill is given twice", id="twice"),
    ],
)
def test_a_bad_setting_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        parse_faults(text)


def test_the_error_names_are_the_services_own() -> None:
    """DynamoDB's and the Management API's error shapes, as botocore's models name them."""
    loader = botocore.session.get_session().get_component("data_loader")
    dynamodb = loader.load_service_model("dynamodb", "service-2")
    assert {"ProvisionedThroughputExceededException", "InternalServerError"} <= set(
        dynamodb["shapes"]
    )
    management = loader.load_service_model("apigatewaymanagementapi", "service-2")
    errors = {shape: management["shapes"][shape] for shape in ("LimitExceededException",)}
    assert errors["LimitExceededException"]["error"]["httpStatusCode"] == 429
    assert management["shapes"]["GoneException"]["error"]["httpStatusCode"] == 410


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class _Live:
    def __init__(self) -> None:
        self.websocket = type("Socket", (), {"transport": _Transport()})()


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        pytest.param("post_429", (429, "LimitExceededException"), id="429"),
        pytest.param("post_500", (500, "InternalServerErrorException"), id="500"),
        pytest.param("post_410", (410, "GoneException"), id="410"),
        pytest.param("post_slow", None, id="slow"),
    ],
)
def test_a_post_fault_answers_as_api_gateway_does(name: str, answer: Any) -> None:
    faults = Faults(FaultSettings(**{name: 1.0}, post_delay=0.0))
    live = _Live()
    assert asyncio.run(faults.before_post(live)) == answer  # type: ignore[arg-type]
    assert live.websocket.transport.aborted is (name == "post_410")  # the socket drops too
    assert faults.summary() == {
        "posts": 1,
        "injected": 1,
        "faults": {name: 1},
        "redelivered_records": 0,
    }
    faults.active = False
    assert asyncio.run(faults.before_post(live)) is None  # switched off: nothing, not counted
    assert faults.posts == 1


def test_ack_lost_drops_the_socket_on_the_first_publish_acks_only() -> None:
    faults = Faults(parse_faults("ack_lost=1"))
    assert faults.settings.describe() == "ack_lost=1"
    publish_ack = b'{"type":"ack","id":"p","channel":"c","seq":3,"delivered":1}'
    others = [
        b'{"type":"ack","id":"s","channel":"c","epoch":"e","seq":3}',  # a subscribe's ack
        b'{"type":"message","channel":"c","data":"ack","seq":3}',
        b'"ack" but not JSON {',
    ]
    for body in others:
        live = _Live()
        assert asyncio.run(faults.before_post(live, body)) is None  # type: ignore[arg-type]
        assert not live.websocket.transport.aborted
    live = _Live()
    lost = asyncio.run(faults.before_post(live, publish_ack))  # type: ignore[arg-type]
    assert (lost, live.websocket.transport.aborted) == ((410, "GoneException"), True)
    again = _Live()
    assert asyncio.run(faults.before_post(again, publish_ack)) is None  # type: ignore[arg-type]
    assert faults.summary()["faults"] == {"ack_lost": 1}


def test_rates_are_drawn_at_about_their_value() -> None:
    faults = Faults(FaultSettings(post_429=0.1, post_500=0.05, seed=3))
    live = _Live()

    async def many() -> None:
        for _ in range(4000):
            await faults.before_post(live)  # type: ignore[arg-type]

    asyncio.run(many())
    assert 330 <= faults.counts["post_429"] <= 470
    assert 140 <= faults.counts["post_500"] <= 260


def _local(service: str, endpoint: str) -> Any:
    return local_client(service, endpoint, attempts=3)


def test_dynamodb_faults_reach_botocore_as_the_modeled_errors_and_are_retried() -> None:
    faults = Faults(FaultSettings(dynamodb_throttle=1.0))
    with embedded_moto(faults.wsgi) as endpoint:
        client = _local("dynamodb", endpoint)
        with pytest.raises(ClientError) as raised:
            client.list_tables()
        assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert faults.counts["dynamodb_throttle"] == 3  # botocore tried three times
        faults.settings = FaultSettings(dynamodb_error=1.0)
        with pytest.raises(ClientError) as raised:
            client.list_tables()
        assert raised.value.response["Error"]["Code"] == "InternalServerError"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        faults.active = False
        assert client.list_tables()["TableNames"] == []
        # SQS on the same endpoint is never faulted
        faults.active = True
        sqs = _local("sqs", endpoint)
        assert "QueueUrl" in sqs.create_queue(QueueName="untouched")


def _pool(tmp_path: Path, faults: Faults, timeout: float) -> FunctionPool:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        textwrap.dedent(
            """
            import time

            def handler(event, context):
                time.sleep(event["sleep"])
                return {"slept": event["sleep"]}
            """
        )
    )
    spec = FunctionSpec(
        name="Slow",
        code_dir=code,
        handler="app.handler",
        environment={},
        layer_dirs=(),
        timeout=timeout,
        memory_size=128,
        runtime="python3.13",
    )
    environment = {
        "AWS_LAMBDA_FUNCTION_NAME": "Slow",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/Slow",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
    }
    return FunctionPool(spec, environment, 1, lambda _name, _line: None, faults)


@pytest.mark.parametrize(
    ("fault", "error_type", "counted"),
    [
        pytest.param("kill", "Runtime.ExitError", {"kill": 1}, id="killed"),
        pytest.param("timeout", "Sandbox.Timedout", {"timeout": 1}, id="timed-out"),
    ],
)
def test_an_invocation_dies_mid_way_as_lambda_ends_it(
    tmp_path: Path, fault: str, error_type: str, counted: dict[str, int]
) -> None:
    faults = Faults(FaultSettings(**{fault: 1.0}, kill_within=0.01, functions=("Slow",)))

    async def scenario() -> None:
        pool = _pool(tmp_path, faults, timeout=1.0)
        try:
            with pytest.raises(InvocationError) as raised:
                await pool.invoke({"sleep": 0.5})
            assert raised.value.error_type == error_type
            assert dict(faults.counts) == counted
            faults.active = False  # the next event gets a fresh worker and runs whole
            assert await pool.invoke({"sleep": 0}) == {"slept": 0}
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_an_invocation_that_answers_first_is_not_struck(tmp_path: Path) -> None:
    faults = Faults(FaultSettings(kill=1.0, kill_within=0.3))

    async def scenario() -> None:
        pool = _pool(tmp_path, faults, timeout=5.0)
        try:
            faults.settings = FaultSettings(kill=1.0, kill_within=0.3, functions=("Other",))
            assert await pool.invoke({"sleep": 0}) == {"slept": 0}  # another function's fault
            faults.settings = FaultSettings(kill=1.0, kill_within=0.3, seed=1)
            faults._random.seed(1)
            assert await pool.invoke({"sleep": 0}) == {"slept": 0}  # done before the strike
            await asyncio.sleep(0.35)
            assert faults.counts["kill"] == 0
            assert await pool.invoke({"sleep": 0}) == {"slept": 0}  # the worker is alive
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_sqs_redelivery_keeps_a_non_empty_part_of_the_batch() -> None:
    faults = Faults(FaultSettings(sqs_redeliver=1.0, seed=5))
    records = list(range(10))
    for _ in range(50):
        deleted = faults.deletable(records)
        assert len(deleted) < len(records)
        assert set(deleted) <= set(records)
    assert faults.counts["sqs_redeliver"] == 50
    assert faults.redelivered_records > 50
    assert faults.deletable([]) == []
    faults.active = False
    assert faults.deletable(records) == records


def test_the_embedded_dynamodb_gives_out_each_counter_value_once_under_concurrency() -> None:
    """Found by the soak: moto's threaded server let two publishes take the same seq."""
    from concurrent.futures import ThreadPoolExecutor

    with embedded_moto() as endpoint:
        client = _local("dynamodb", endpoint)
        client.create_table(
            TableName="counters",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def take(_n: int) -> int:
            answer = client.update_item(
                TableName="counters",
                Key={"id": {"S": "c"}},
                UpdateExpression="ADD seq :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
            return int(answer["Attributes"]["seq"]["N"])

        with ThreadPoolExecutor(16) as pool:
            taken = list(pool.map(take, range(400)))
    assert sorted(taken) == list(range(1, 401))


def test_a_pool_closed_during_a_cold_start_stops_that_worker_too(tmp_path: Path) -> None:
    """Found by the soak's short load runs: a worker still starting when the gateway stopped
    was retired after close() returned, and its process outlived the event loop."""
    started: list[Any] = []

    async def scenario() -> None:
        pool = _pool(tmp_path, Faults(), timeout=5.0)
        start = pool._start

        async def recorded() -> Any:
            worker = await start()
            started.append(worker)
            return worker

        pool._start = recorded  # type: ignore[method-assign]
        invocation = asyncio.create_task(pool.invoke({"sleep": 0}))
        while not started:  # the cold start has its process; its init is under way
            await asyncio.sleep(0)
        await pool.close()
        assert [worker.process.returncode is not None for worker in started] == [True]
        invocation.cancel()
        with contextlib.suppress(asyncio.CancelledError, InvocationError):
            await invocation

    asyncio.run(scenario())
