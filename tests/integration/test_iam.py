"""Least privilege that still works: every AWS call a function makes is granted to it.

moto does not enforce IAM, so a missing permission would only show on AWS (as a 500, a
stuck recovery or a lost presence leave). Here each function's request paths run against
moto while every botocore call is recorded; each call is mapped to the IAM action and
resource it needs (a transaction's items, a batch's tables, a query's index, a secret's
ARN) and checked against what the role of that function is granted in the SAM
translator's output of ``template.yaml`` (tests/deploy/sam.py: the policies SAM writes on
the generated role, and the ``AWS::IAM::Policy`` resources attached to it), for the
parameter set that deploys that path (SSM, Secrets Manager, JWKS).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from botocore.client import BaseClient

from functions.fanout_worker import app as worker_app
from local_gateway.sqs import sqs_event
from local_gateway.template import Resolver as _Resolver
from local_gateway.template import queue_arn
from local_gateway.template import read_yaml as _read_yaml
from switchboard import queueing, services
from switchboard.lifecycle import Handshake
from tests.conftest import (
    CONNECTED_AT_MS,
    CONTEXT,
    ROOT,
    SECRET,
    ManagementApiFake,
    connect,
    disconnect,
    make_token,
    send_frame,
)
from tests.deploy import sam
from tests.integration.test_server_publish import call, history

TEMPLATE = _read_yaml(ROOT / "template.yaml")
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fanout"

# (IAM action, resource): a logical id, "Table/index/Name", "@connections:METHOD", or an
# ARN (a grant's ARN may hold IAM's wildcards, * and ?)
Need = tuple[str, str]


# ---------------------------------------------------------------- what the template grants


def _resource_key(node: Any, resolver: _Resolver) -> str | None:
    """``!GetAtt X.Arn`` -> ``X``; ``!Sub "${X.Arn}/index/I"`` -> ``X/index/I``; an
    ``@connections`` ARN -> ``@connections:METHOD``; any other ARN, resolved."""
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
        return resolver.sub(text)
    return None


def _grants(statements: Iterable[dict[str, Any]], resolver: _Resolver) -> set[Need]:
    granted: set[Need] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in resources if isinstance(resources, list) else [resources]:
                key = _resource_key(resource, resolver)
                if key is not None:
                    granted.add((action, key))
    return granted


def granted_to(function: str, variant: str = "defaults") -> set[Need]:
    """The (action, resource) pairs the function's role is granted, as deployed."""
    template = sam.deployed(variant)
    resources = template["Resources"]
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        statement
        for policy in resources[role]["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    for resource in resources.values():
        if (
            resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in resource["Properties"]["Roles"]
        ):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    resolver = _Resolver(template, sam.STACK)
    resolver.parameters.update(sam.parameters(variant))
    return _grants(statements, resolver)


def ungranted(needs: set[Need], granted: set[Need]) -> set[Need]:
    """The needs no grant covers (an ARN grant matches as IAM does: * any, ? one)."""
    return {
        (action, resource)
        for action, resource in needs
        if (action, resource) not in granted
        and not any(
            action == granted_action
            and pattern.startswith("arn:")
            and fnmatch.fnmatchcase(resource, pattern.replace("[", "[[]"))
            for granted_action, pattern in granted
        )
    }


def test_the_grants_are_read_from_the_transformed_template() -> None:
    # guards the reader itself: a few grants known to be in the template
    assert ("dynamodb:PutItem", "ConnectionsTable") in granted_to("ConnectFunction")
    assert ("dynamodb:Query", "SubscriptionsTable/index/byConnection") in granted_to(
        "DisconnectFunction"
    )
    assert ("sqs:SendMessage", "FanoutQueue") in granted_to("DefaultFunction")
    assert ("sqs:SendMessage", "FanoutQueue") in granted_to("DisconnectFunction")
    assert ("execute-api:ManageConnections", "@connections:POST") in granted_to(
        "FanoutWorkerFunction"
    )
    assert ("dynamodb:PutItem", "TokensTable") not in granted_to("DisconnectFunction")
    assert ("dynamodb:PutItem", "TokensTable") in granted_to("DefaultFunction")  # `auth`'s jti
    ssm = "arn:aws:ssm:us-east-1:123456789012:parameter/switchboard/dev/ws-secret"
    assert ("ssm:GetParameter", ssm) in granted_to("ConnectFunction")
    assert ("ssm:GetParameter", ssm) in granted_to("DefaultFunction")  # `auth` verifies too
    assert not any(a.startswith("ssm:") for a, _ in granted_to("ConnectFunction", "jwks"))


# ---------------------------------------------------------------- what the code calls


def _tables() -> dict[str, str]:
    """Physical table name (this test run's) -> logical id, from the functions' env vars."""
    names: dict[str, str] = {}
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for resource in TEMPLATE["Resources"].values():
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
ARN_PREFIX = "arn:aws:"
REGION_ACCOUNT = f"{sam.REGION}:{sam.ACCOUNT}"
STACK_BUS = "switchboard-events"  # EVENT_BUS_NAME in the tests: the bus the stack creates
secret_arns: dict[str, str] = {}  # Secrets Manager name -> ARN, of the secrets tests made


def needs_of(service: str, operation: str, params: dict[str, Any]) -> set[Need]:
    """The IAM (action, resource) pairs one botocore call needs."""
    if service == "sqs":  # a batch call is authorised by its single-message action
        return {(f"sqs:{operation.removesuffix('Batch')}", "FanoutQueue")}
    if service == "ssm":  # the parameter's ARN: "parameter" then its name (with its /)
        return {("ssm:GetParameter", f"{ARN_PREFIX}ssm:{REGION_ACCOUNT}:parameter{params['Name']}")}
    if service == "secretsmanager":  # the secret's ARN, with the suffix AWS added
        return {("secretsmanager:GetSecretValue", secret_arns[params["SecretId"]])}
    if service == "events":  # the stack's bus (its logical id), or the one EventBusName names
        return {
            (
                "events:PutEvents",
                "EventBus"
                if name == STACK_BUS
                else f"{ARN_PREFIX}events:{REGION_ACCOUNT}:event-bus/{name}",
            )
            for name in {entry["EventBusName"] for entry in params["Entries"]}
        }
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


def start_recording(management: ManagementApiFake, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Record every botocore call from now on (by the function running), with a fresh
    container on the fake Management API and the fan-out queue (threshold 3)."""
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


@pytest.fixture
def recorder(management: ManagementApiFake, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return start_recording(management, monkeypatch)


def assert_granted(recorder: Recorder, function: str, variant: str = "defaults") -> None:
    needs = recorder.needs(function)
    assert needs, f"no call of {function} was recorded"
    missing = ungranted(needs, granted_to(function, variant))
    assert not missing, f"{function} calls what its policies do not grant: {sorted(missing)}"


def test_every_call_of_every_function_is_granted(
    recorder: Recorder, management: ManagementApiFake
) -> None:
    room, big = "presence-room:iam", "room:iam-big"
    ids = [f"IAM{n:012d}=" for n in range(6)]

    with recorder.running("ConnectFunction"):
        for n, cid in enumerate(ids):
            connect(cid, f"user{n}", jti=f"jti-{n}", presence={"n": n})
        connect("IAMCLAIM0000000=", "claimer", subscribe=["user:claimer"])  # server-side

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
        # exactly-once publish: the key item and the message in one transaction, then a repeat
        keyed = {"action": "publish", "channel": big, "data": 7, "idempotencyKey": "k"}
        send_frame(ids[0], {**keyed, "id": "k1"})
        send_frame(ids[0], {**keyed, "id": "k2"})
        # auth with a single-use token, narrowing: a subscription ends (a presence leave)
        narrow = make_token("user1", channels=[big], jti="jti-auth-1")
        send_frame(ids[1], {"action": "auth", "token": narrow, "id": "a"})
    (repeat,) = [f for f in management.replies(ids[0]) if f.get("id") == "k2"]
    assert repeat["duplicate"] is True
    assert [f["type"] for f in management.replies(ids[1])][-2:] == ["unsubscribed", "ack"]

    # SQS itself invokes the worker (SAM grants its event source the polling actions)
    messages = services.sqs().receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
    management.gone.add(ids[3])
    management.throttle_once.add(ids[4])
    management.attempts.clear()
    with recorder.running("FanoutWorkerFunction"):
        event = sqs_event(messages["Messages"], queue_arn("fanout"))
        assert worker_app.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}

    # a presence leave to more than the threshold: $disconnect hands it to SQS
    lobby = [f"IAMLOBBY{n:05d}=" for n in range(5)]
    for n, cid in enumerate(lobby):
        connect(cid, f"lobby{n}", presence={"n": n})
        send_frame(cid, {"action": "subscribe", "channel": "presence-lobby", "id": "l"})
    with recorder.running("DisconnectFunction"):
        disconnect(ids[0])
        disconnect(ids[0])  # twice: harmless
        disconnect(lobby[0])
    assert ("sqs:SendMessage", "FanoutQueue") in recorder.needs("DisconnectFunction")

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


@pytest.fixture
def no_local_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on AWS: no WS_SECRET, and Powertools' parameter cache empty before and after."""
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    monkeypatch.delenv("WS_SECRET")
    DEFAULT_PROVIDERS.clear()
    services.reset()
    yield
    DEFAULT_PROVIDERS.clear()
    services.reset()


def test_the_secret_parameter_is_read_with_what_the_ssm_deploy_grants(
    recorder: Recorder, no_local_secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = sam.parameters("defaults")["TokenSecretParameter"]
    boto3.client("ssm").put_parameter(Name=name, Value=SECRET, Type="SecureString")
    monkeypatch.setenv("WS_SECRET_PARAMETER", name)
    with recorder.running("ConnectFunction"):
        connect("IAMSSM000000001=", "carol")
    assert {a for a, _ in recorder.needs("ConnectFunction")} == {
        "ssm:GetParameter",
        "dynamodb:PutItem",
    }
    assert_granted(recorder, "ConnectFunction", "defaults")
    # the same call is not granted where the secret lives in Secrets Manager
    assert ungranted(recorder.needs("ConnectFunction"), granted_to("ConnectFunction", "jwks"))


def test_the_secret_is_read_with_what_the_secrets_manager_deploy_grants(
    recorder: Recorder, no_local_secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = sam.parameters("secrets-manager")["TokenSecretId"]
    client = boto3.client("secretsmanager")
    secret_arns[name] = client.create_secret(Name=name, SecretString=SECRET)["ARN"]
    # another secret whose name starts with this one's and a dash
    neighbour = client.create_secret(Name=f"{name}-old", SecretString="other")["ARN"]
    monkeypatch.setenv("WS_SECRET_ID", name)
    with recorder.running("ConnectFunction"):
        connect("IAMSM0000000001=", "carol")
    assert ("secretsmanager:GetSecretValue", secret_arns[name]) in recorder.needs("ConnectFunction")
    assert_granted(recorder, "ConnectFunction", "secrets-manager")
    # the grant is that secret's ARN (name, a dash, AWS's six characters) and no other
    granted = granted_to("ConnectFunction", "secrets-manager")
    other = ("secretsmanager:GetSecretValue", neighbour)
    assert ungranted({other}, granted) == {other}, f"the grant also lets it read {neighbour}"


def test_jwks_connects_with_what_the_jwks_deploy_grants(
    recorder: Recorder, no_local_secret: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.switchboard.test_auth import RSA_KEY, serve_jwks

    with serve_jwks() as url:
        monkeypatch.setenv("JWKS_URL", url)
        services.reset()
        token = jwt.encode(
            {"sub": "dave", "exp": int(time.time()) + 60},
            RSA_KEY,
            algorithm="RS256",
            headers={"kid": "rsa-1"},
        )
        with recorder.running("ConnectFunction"):
            result = services.connector().connect(
                Handshake(
                    connection_id="IAMJWKS00000001=",
                    connected_at_ms=CONNECTED_AT_MS,
                    headers={},
                    query={"token": token},
                )
            )
    assert result.status == 200
    assert recorder.needs("ConnectFunction") == {("dynamodb:PutItem", "ConnectionsTable")}
    assert_granted(recorder, "ConnectFunction", "jwks")


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
