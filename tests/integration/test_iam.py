"""Least privilege that still works: every AWS call a function makes is granted to it.

moto does not enforce IAM, so a missing permission would only show on AWS (as a 500 or
a stuck recovery). Here each function's request paths run against moto while every
botocore call is recorded; each call is mapped to the IAM action and resource it needs
(a transaction's items, a batch's tables and a query's index included) and checked
against that function's policies in ``template.yaml``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from functions.fanout_worker import app as worker_app
from local_gateway.sqs import sqs_event
from local_gateway.template import _read_yaml, queue_arn
from switchboard import queueing, services
from tests.conftest import (
    CONTEXT,
    ROOT,
    ManagementApiFake,
    connect,
    disconnect,
    make_token,
    send_frame,
)
from tests.integration.test_server_publish import call, history

TEMPLATE = _read_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fanout"

Need = tuple[str, str]  # (IAM action, resource: a logical id, or "Table/index/Name")


# ---------------------------------------------------------------- what the template grants


def _resource_key(node: Any) -> str | None:
    """``!GetAtt X.Arn`` -> ``X``; ``!Sub "${X.Arn}/index/I"`` -> ``X/index/I``."""
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        name, attribute = node["Fn::GetAtt"]
        return str(name) if attribute == "Arn" else None
    if isinstance(node, dict) and "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        if text.startswith("${") and ".Arn}" in text:
            name, _, rest = text[2:].partition(".Arn}")
            return name + rest
        if "@connections" in text:
            parts = text.split("/")
            return "@connections:" + parts[parts.index("@connections") - 1]  # the method
    return None


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    if isinstance(policy, dict) and "Fn::If" in policy:
        for branch in policy["Fn::If"][1:]:  # either branch may be deployed
            yield from _statements(branch)
    elif isinstance(policy, dict) and "Statement" in policy:
        yield from policy["Statement"]


def _grants(statements: Iterator[dict[str, Any]]) -> set[Need]:
    granted: set[Need] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in resources if isinstance(resources, list) else [resources]:
                key = _resource_key(resource)
                if key is not None:
                    granted.add((action, key))
    return granted


def granted_to(function: str) -> set[Need]:
    """The (action, resource) pairs of the function's policies and of policies on its role."""
    policies = RESOURCES[function]["Properties"].get("Policies", [])
    granted = _grants(s for p in policies for s in _statements(p))
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = [r.get("Ref") for r in resource["Properties"]["Roles"]]
        if f"{function}Role" in roles:
            granted |= _grants(iter(resource["Properties"]["PolicyDocument"]["Statement"]))
    return granted


def test_the_grants_are_read_from_the_template() -> None:
    # guards the reader itself: a few grants known to be in the template
    assert ("dynamodb:PutItem", "ConnectionsTable") in granted_to("ConnectFunction")
    assert ("dynamodb:Query", "SubscriptionsTable/index/byConnection") in granted_to(
        "DisconnectFunction"
    )
    assert ("sqs:SendMessage", "FanoutQueue") in granted_to("DefaultFunction")
    assert ("execute-api:ManageConnections", "@connections:POST") in granted_to(
        "FanoutWorkerFunction"
    )
    assert ("dynamodb:PutItem", "TokensTable") not in granted_to("DefaultFunction")


# ---------------------------------------------------------------- what the code calls


def _tables() -> dict[str, str]:
    """Physical table name (this test run's) -> logical id, from the functions' env vars."""
    names: dict[str, str] = {}
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for resource in RESOURCES.values():
        env = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        variables.update(env)
    for variable, value in variables.items():
        if isinstance(value, dict) and "Ref" in value and variable.endswith("_TABLE"):
            names[os.environ[variable]] = value["Ref"]
    return names


MANAGEMENT_METHODS = {
    "PostToConnection": "POST",
    "GetConnection": "GET",
    "DeleteConnection": "DELETE",
}
DYNAMODB_WRITES = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}


def needs_of(service: str, operation: str, params: dict[str, Any]) -> set[Need]:
    """The IAM (action, resource) pairs one botocore call needs."""
    if service == "sqs":  # a batch call is authorised by its single-message action
        return {(f"sqs:{operation.removesuffix('Batch')}", "FanoutQueue")}
    if service == "apigatewaymanagementapi":
        return {("execute-api:ManageConnections", f"@connections:{MANAGEMENT_METHODS[operation]}")}
    assert service == "dynamodb", service
    tables = _tables()
    if operation == "TransactWriteItems":
        needs: set[Need] = set()
        for item in params["TransactItems"]:
            [(kind, body)] = item.items()
            action = DYNAMODB_WRITES.get(kind, "ConditionCheckItem")
            needs.add((f"dynamodb:{action}", tables[body["TableName"]]))
        return needs
    if operation in {"BatchWriteItem", "BatchGetItem"}:
        return {(f"dynamodb:{operation}", tables[name]) for name in params["RequestItems"]}
    resource = tables[params["TableName"]]
    if "IndexName" in params:
        resource += f"/index/{params['IndexName']}"
    return {(f"dynamodb:{operation}", resource)}


class Recorder:
    """Every botocore call made while a function's code runs, by function."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    @contextlib.contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None

    def needs(self, function: str) -> set[Need]:
        return {
            need
            for service, operation, params in self.calls.get(function, [])
            for need in needs_of(service, operation, params)
        }


@pytest.fixture
def recorder(management: ManagementApiFake, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recording = Recorder()
    original = BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if recording.function is not None:
            service = client.meta.service_model.service_name
            recording.calls.setdefault(recording.function, []).append((service, operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    monkeypatch.setattr(queueing, "follow_up_delay", lambda _generation: 0)
    monkeypatch.setenv("FANOUT_QUEUE_URL", QUEUE_URL)
    monkeypatch.setenv("FANOUT_QUEUE_THRESHOLD", "3")
    monkeypatch.setenv("FANOUT_MAX_ATTEMPTS", "1")
    services.reset()
    services.store()
    management.attach(services.sender(os.environ["MANAGEMENT_ENDPOINT"])._client)
    services.sqs().create_queue(QueueName="fanout")
    return recording


def assert_granted(recorder: Recorder, function: str) -> None:
    needs = recorder.needs(function)
    assert needs, f"no call of {function} was recorded"
    missing = needs - granted_to(function)
    assert not missing, f"{function} calls what its policies do not grant: {sorted(missing)}"


def test_every_call_of_every_function_is_granted(
    recorder: Recorder, management: ManagementApiFake
) -> None:
    room, big = "presence-room:iam", "room:iam-big"
    ids = [f"IAM{n:012d}=" for n in range(6)]

    with recorder.running("ConnectFunction"):
        for n, cid in enumerate(ids):
            connect(cid, f"user{n}", jti=f"jti-{n}", presence={"n": n})

    with recorder.running("DefaultFunction"):
        send_frame(ids[0], {"action": "ping", "id": "p"})
        for cid in ids[:3]:
            send_frame(cid, {"action": "subscribe", "channel": room, "id": "s"})
        send_frame(ids[0], {"action": "publish", "channel": room, "data": 1, "id": "m1"})
        send_frame(ids[0], {"action": "publish", "channel": room, "data": 2, "id": "m2"})
        send_frame(ids[1], {"action": "unsubscribe", "channel": room, "id": "u"})
        # a recovery: replay, then the transaction that makes the subscription live
        send_frame(ids[1], {"action": "subscribe", "channel": room, "since": 1, "id": "r"})
        send_frame(ids[0], {"action": "presence", "channel": room, "id": "who"})
        send_frame(ids[0], {"action": "history", "channel": room, "limit": 10, "id": "h"})
        management.gone.add(ids[2])  # pruned during the next fan-out (with its presence)
        send_frame(ids[0], {"action": "publish", "channel": room, "data": 3, "id": "m3"})
        for cid in ids:  # above the threshold: the fan-out goes to SQS
            send_frame(cid, {"action": "subscribe", "channel": big, "id": "b"})
        send_frame(ids[0], {"action": "publish", "channel": big, "data": "many", "id": "big"})
    assert management.replies(ids[1])[-1]["type"] != "error"

    # SQS itself invokes the worker (SAM grants its event source the polling actions)
    messages = services.sqs().receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
    management.gone.add(ids[3])
    management.throttle_once.add(ids[4])
    management.attempts.clear()
    with recorder.running("FanoutWorkerFunction"):
        event = sqs_event(messages["Messages"], queue_arn("fanout"))
        assert worker_app.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}

    with recorder.running("DisconnectFunction"):
        disconnect(ids[0])
        disconnect(ids[0])  # twice: harmless

    server = make_token("backend", ttl=3600, scope="publish")
    with recorder.running("PublishFunction"):
        management.gone.add(ids[5])
        assert call({"channel": room, "data": 4}, token=server, key="iam-1")[0] == 200
        assert call({"channel": big, "data": 5}, token=server)[0] == 200
        assert call({"data": 6}, token=server, event="user_message")[0] == 200
        assert history(room, {"limit": "5"}, server)[0] == 200

    for function in (
        "ConnectFunction",
        "DefaultFunction",
        "FanoutWorkerFunction",
        "DisconnectFunction",
        "PublishFunction",
    ):
        assert_granted(recorder, function)


def test_a_missing_grant_is_caught() -> None:
    """The check can fail: a transaction's update needs UpdateItem on its own table."""
    tables = {v: k for k, v in _tables().items()}
    needs = needs_of(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Update": {"TableName": tables["SubscriptionsTable"]}},
                {"ConditionCheck": {"TableName": tables["HistoryTable"]}},
            ]
        },
    )
    assert needs == {
        ("dynamodb:UpdateItem", "SubscriptionsTable"),
        ("dynamodb:ConditionCheckItem", "HistoryTable"),
    }
    assert ("dynamodb:UpdateItem", "SubscriptionsTable") not in granted_to("ConnectFunction")
