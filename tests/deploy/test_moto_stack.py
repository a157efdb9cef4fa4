"""The transformed template created as a stack in moto's CloudFormation.

What moto can create is created from the SAM translator's output, so that references,
parameters and the wiring between tables, queues, roles, functions and the event source
are resolved by a CloudFormation implementation rather than read by our tests:

- Left out: every ``AWS::ApiGatewayV2::*`` resource (the two APIs, their routes,
  integrations and stages): moto's CloudFormation has no model for them. ``WebSocketApi``
  and ``PublishApi`` become parameters holding an API id, so what refers to them (the
  ``@connections`` grants, the Lambda permissions, the outputs) still resolves.
- ``AWS::CloudWatch::Alarm`` and ``AWS::SNS::Subscription``: moto's CloudFormation accepts
  them without creating anything (it warns); the alarm's actions and the e-mail
  subscription are checked on the transformed template (tests/deploy/test_template.py and
  test_dashboard.py). The dashboard is created: its body is read back as moto's
  ``Fn::Sub`` wrote it.
- ``AWS::Events::EventBus`` (the backend events' bus) becomes a parameter holding its
  name: moto's CloudFormation gives its model object, not the name, as its ``Ref``.
- Conditions are decided before (tests/deploy/sam.py ``deployed``): moto leaves an
  ``AWS::NoValue`` in a role's ``Policies`` list, which CloudFormation drops.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchboard.errors import Refusal
from tests.deploy import sam

STACK = "switchboard"
BUCKET = "rehearsal-artifacts"
API_IDS = {"WebSocketApi": "wsapi12345", "PublishApi": "httpapi123"}
BUS_NAME = f"{STACK}-events"
NOT_CREATED_BY_MOTO = {"AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}


def without_api_gateway(template: dict[str, Any]) -> dict[str, Any]:
    """The template without its ``AWS::ApiGatewayV2::*`` resources; the two APIs become
    parameters (``${WebSocketApi.ApiId}`` is ``${WebSocketApi}``)."""
    template = copy.deepcopy(template)
    resources = template["Resources"]
    for name in [n for n, r in resources.items() if r["Type"].startswith("AWS::ApiGatewayV2::")]:
        del resources[name]
    buses = [n for n, r in resources.items() if r["Type"] == "AWS::Events::EventBus"]
    for name in buses:
        del resources[name]
        template["Parameters"][name] = {"Type": "String", "Default": BUS_NAME}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in API_IDS:
                return {"Ref": node["Fn::GetAtt"][0]}
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in buses:
                arn = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
                return {"Fn::Sub": f"{arn}:event-bus/${{{node['Fn::GetAtt'][0]}}}"}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if isinstance(node, str):
            return node.replace("${WebSocketApi.ApiId}", "${WebSocketApi}")
        return node

    template = rewrite(template)
    for name, api_id in API_IDS.items():
        template["Parameters"][name] = {"Type": "String", "Default": api_id}
    return template


class Stack:
    """A created stack: its resources by logical id, outputs, and moto's clients."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.template = without_api_gateway(sam.deployed(variant))
        self.params = sam.parameters(variant)
        cloudformation = boto3.client("cloudformation")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(self.template),
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": v}
                    for k, v in sam.variants()[variant].items()
                ],
                Capabilities=["CAPABILITY_IAM"],
            )
            [self.description] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
            summaries = cloudformation.list_stack_resources(StackName=STACK)
        self.warnings = [str(w.message) for w in caught]
        self.physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in summaries["StackResourceSummaries"]
        }
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in self.description["Outputs"]}

    def of_type(self, kind: str) -> list[str]:
        return [n for n, r in self.template["Resources"].items() if r["Type"] == kind]


@pytest.fixture(scope="module", params=["env:prod", "alarm-email"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
        for resource in sam.transformed(request.param)["Resources"].values():
            location = resource["Properties"].get("Code") or resource["Properties"].get("Content")
            if resource["Type"].startswith("AWS::Lambda::") and location:
                s3.put_object(Bucket=BUCKET, Key=location["S3Key"], Body=code.getvalue())
        yield Stack(request.param)


def test_the_stack_is_created_with_every_resource_moto_models(stack: Stack) -> None:
    assert stack.description["StackStatus"] == "CREATE_COMPLETE"
    expected = set(stack.template["Resources"])
    left_out = {
        name
        for name, resource in stack.template["Resources"].items()
        if resource["Type"] in NOT_CREATED_BY_MOTO
    }
    assert "FanoutDeadLetterAlarm" in left_out
    assert set(stack.physical) - {""} == expected - left_out  # moto lists those without an id
    unsupported = {w for w in stack.warnings if "not supported by moto" in w}
    assert unsupported == {
        f"Tried to parse {stack.template['Resources'][name]['Type']} but it's not supported"
        " by moto's CloudFormation implementation"
        for name in left_out
    }


def test_the_functions_are_wired_to_the_stacks_tables_queue_and_api(stack: Stack) -> None:
    lambda_ = boto3.client("lambda")
    tables = {name: stack.physical[name] for name in stack.of_type("AWS::DynamoDB::Table")}
    stage = stack.params["StageName"]
    for name in stack.of_type("AWS::Lambda::Function"):
        config = lambda_.get_function_configuration(FunctionName=stack.physical[name])
        env = config["Environment"]["Variables"]
        assert env["CONNECTIONS_TABLE"] == tables["ConnectionsTable"], name
        assert env["SUBSCRIPTIONS_TABLE"] == tables["SubscriptionsTable"], name
        assert env["TOKENS_TABLE"] == tables["TokensTable"], name
        assert env["FANOUT_QUEUE_URL"] == stack.physical["FanoutQueue"], name
        # moto keeps a number as given; Lambda would make it a string
        assert str(env["FANOUT_QUEUE_THRESHOLD"]) == str(stack.params["FanoutQueueThreshold"])
        assert config["Role"].endswith("/" + stack.physical[f"{name}Role"]), name
        assert config["Runtime"] == "python3.13"
    publish = lambda_.get_function_configuration(FunctionName=stack.physical["PublishFunction"])
    assert publish["Environment"]["Variables"]["MANAGEMENT_ENDPOINT"] == (
        f"https://{API_IDS['WebSocketApi']}.execute-api.us-east-1.amazonaws.com/{stage}"
    )
    assert publish["Environment"]["Variables"]["IDEMPOTENCY_TABLE"] == tables["IdempotencyTable"]
    connect = lambda_.get_function_configuration(FunctionName=stack.physical["ConnectFunction"])
    assert connect["Environment"]["Variables"]["WS_SECRET_PARAMETER"] == (
        f"/switchboard/{stage}/ws-secret"
    )


def test_the_tables_have_the_keys_and_indexes_of_the_template(stack: Stack) -> None:
    dynamodb = boto3.client("dynamodb")
    for name in stack.of_type("AWS::DynamoDB::Table"):
        properties = stack.template["Resources"][name]["Properties"]
        table = dynamodb.describe_table(TableName=stack.physical[name])["Table"]
        assert table["KeySchema"] == properties["KeySchema"], name
        assert {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])} == {
            i["IndexName"] for i in properties.get("GlobalSecondaryIndexes", [])
        }
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_the_fanout_queue_redrives_to_its_dead_letter_queue(stack: Stack) -> None:
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=stack.physical["FanoutQueue"], AttributeNames=["All"])
    dead = sqs.get_queue_attributes(
        QueueUrl=stack.physical["FanoutDeadLetterQueue"], AttributeNames=["QueueArn"]
    )
    redrive = json.loads(queue["Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dead["Attributes"]["QueueArn"], "maxReceiveCount": 3}
    assert queue["Attributes"]["VisibilityTimeout"] == "360"
    [mapping] = boto3.client("lambda").list_event_source_mappings(
        FunctionName=stack.physical["FanoutWorkerFunction"]
    )["EventSourceMappings"]
    assert mapping["EventSourceArn"] == queue["Attributes"]["QueueArn"]
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _document(document: Any) -> dict[str, Any]:
    """A policy document as boto3 returns it."""
    if isinstance(document, str):  # moto keeps the Python repr of a template's document
        document = ast.literal_eval(document)
    out: dict[str, Any] = document
    return out


def test_the_roles_are_granted_the_stacks_own_resources(stack: Stack) -> None:
    iam = boto3.client("iam")
    queue_arn = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.physical["FanoutQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for function in ("DefaultFunction", "PublishFunction", "DisconnectFunction"):
        role = stack.physical[f"{function}Role"]
        policy = iam.get_role_policy(RoleName=role, PolicyName="EnqueueFanoutBatches")
        [statement] = _document(policy["PolicyDocument"])["Statement"]
        assert (statement["Action"], statement["Resource"]) == (["sqs:SendMessage"], queue_arn)
    role = stack.physical["ConnectFunctionRole"]
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    documents = [
        _document(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]) for n in names
    ]
    resources = {s["Sid"]: s["Resource"] for d in documents for s in d["Statement"]}
    table = boto3.client("dynamodb").describe_table(TableName=stack.physical["ConnectionsTable"])
    assert resources["StoreConnection"] == table["Table"]["TableArn"]
    assert resources["ReadTokenSecretParameter"] == (
        f"arn:aws:ssm:us-east-1:123456789012:parameter/switchboard/{stack.params['StageName']}/ws-secret"
    )


def test_the_log_groups_keep_the_retention_of_the_parameters(stack: Stack) -> None:
    logs = boto3.client("logs")
    for name in stack.of_type("AWS::Logs::LogGroup"):
        [group] = logs.describe_log_groups(logGroupNamePrefix=stack.physical[name])["logGroups"]
        assert group["retentionInDays"] == int(stack.params["LogRetentionDays"]), name


def test_the_outputs_resolve_to_the_stage_of_the_environment(stack: Stack) -> None:
    stage = stack.params["StageName"]
    api = API_IDS["WebSocketApi"]
    assert (
        stack.outputs["WebSocketUrl"] == f"wss://{api}.execute-api.us-east-1.amazonaws.com/{stage}"
    )
    assert stack.outputs["ConnectionsTableName"] == stack.physical["ConnectionsTable"]


def test_the_dashboard_is_json_with_the_stacks_names_as_cloudformation_substitutes_them(
    stack: Stack,
) -> None:
    [name] = [stack.physical[n] for n in stack.of_type("AWS::CloudWatch::Dashboard")]
    assert name == f"{STACK}-us-east-1"
    text = boto3.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"]
    dimensions: dict[str, set[str]] = {}
    for widget in json.loads(text)["widgets"]:
        for line in widget["properties"].get("metrics", []):
            words = [w for w in line if isinstance(w, str)]
            for key, value in zip(words[2::2], words[3::2], strict=True):
                dimensions.setdefault(key, set()).add(value)
    functions = {stack.physical[n] for n in stack.of_type("AWS::Lambda::Function")}
    queues = {stack.physical[n].rsplit("/", 1)[1] for n in stack.of_type("AWS::SQS::Queue")}
    assert dimensions == {
        "ApiId": {API_IDS["WebSocketApi"]},
        "Stage": {stack.params["StageName"]},
        "FunctionName": functions,
        "QueueName": queues,
        "service": {"switchboard"},
        "reason": {r.value for r in Refusal},
    }


def test_alarm_email_creates_the_stacks_topic(stack: Stack) -> None:
    topics = [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]
    if stack.variant == "alarm-email":
        assert topics == [stack.physical["AlarmTopic"]]
    else:
        assert topics == []
        assert "AlarmTopic" not in stack.physical
