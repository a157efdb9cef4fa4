"""The deploy rehearsal: template.yaml as the SAM translator turns it into CloudFormation,
read against AWS's own artefacts (tests/aws_artefacts/, each with its source).

The translator runs once per session (tests/deploy/sam.py) for the template's defaults,
each samconfig.toml environment and the parameter sets that change what is created.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_gateway.template import Resolver
from tests.conftest import ROOT
from tests.deploy import sam

ARTEFACTS = ROOT / "tests" / "aws_artefacts"
LOG_VARIABLES = json.loads((ARTEFACTS / "apigateway_access_log_variables.json").read_text())
QUOTAS = json.loads((ARTEFACTS / "apigateway_quotas.json").read_text())
VARIANTS = list(sam.variants())
ENVS = [v for v in VARIANTS if v.startswith("env:")]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def one_of_type(template: dict[str, Any], kind: str, **properties: Any) -> dict[str, Any]:
    """The one resource of ``kind`` whose properties include ``properties``."""
    [resource] = [
        r
        for r in of_type(template, kind).values()
        if all(r["Properties"].get(k) == v for k, v in properties.items())
    ]
    return resource


# ---------------------------------------------------------------- access logs


def context_variables(log_format: str) -> set[str]:
    """Every ``$context.x.y`` a log format names."""
    return set(re.findall(r"\$context\.([A-Za-z0-9_.]+[A-Za-z0-9_])", log_format))


def documented(variable: str, api_type: str) -> bool:
    """Whether AWS's list for ``api_type`` has ``variable`` (``x.*`` admits any key)."""
    for name in LOG_VARIABLES[api_type]["variables"]:
        if name == variable or (name.endswith(".*") and variable.startswith(name[:-1])):
            return True
    return False


def access_log_formats(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(stage, API type, format) of every stage with access logs."""
    out = []
    for name, stage in of_type(template, "AWS::ApiGatewayV2::Stage").items():
        settings = stage["Properties"].get("AccessLogSettings")
        if settings:
            api = template["Resources"][stage["Properties"]["ApiId"]["Ref"]]["Properties"]
            # SAM's HTTP API is an OpenAPI Body (HTTP is the protocol a Body implies)
            protocol = api.get("ProtocolType", "HTTP" if "Body" in api else None)
            api_type = {"WEBSOCKET": "websocket", "HTTP": "http"}[protocol]
            out.append((name, api_type, settings["Format"]))
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_access_log_variable_is_in_awss_list_for_its_api_type(variant: str) -> None:
    formats = access_log_formats(sam.deployed(variant))
    assert {api_type for _, api_type, _ in formats} == {"websocket", "http"}
    for stage, api_type, log_format in formats:
        variables = context_variables(log_format)
        assert "requestId" in variables
        unknown = sorted(v for v in variables if not documented(v, api_type))
        assert not unknown, f"{stage}: not in AWS's {api_type} list: {unknown}"
        assert len(log_format.encode()) <= QUOTAS["access_log_template_size"]
        json.loads(log_format.replace("\n", " "))  # each line is a JSON log record


def test_the_variable_check_tells_the_api_types_apart() -> None:
    # HTTP APIs document integrationErrorMessage; WebSocket APIs do not (the defect)
    assert documented("integrationErrorMessage", "http")
    assert not documented("integrationErrorMessage", "websocket")
    assert documented("integration.error", "websocket")
    assert documented("authorizer.claims.sub", "http")
    assert not documented("connectionId", "http")


def test_access_logs_leave_out_query_strings_and_headers() -> None:
    # the token travels in one of them
    for _, _, log_format in access_log_formats(sam.deployed()):
        names = context_variables(log_format)
        assert not any("header" in n.lower() or "querystring" in n.lower() for n in names)


# ---------------------------------------------------------------- routes and permissions


def test_each_websocket_route_invokes_its_function_with_a_permission_for_that_route() -> None:
    template = sam.deployed()
    resources = template["Resources"]
    routes = of_type(template, "AWS::ApiGatewayV2::Route")
    targets: dict[str, str] = {}
    for route in routes.values():
        properties = route["Properties"]
        _, (_, integration) = properties["Target"]["Fn::Join"]
        integration_properties = resources[integration["Ref"]]["Properties"]
        assert integration_properties["IntegrationType"] == "AWS_PROXY"
        function_arn = integration_properties["IntegrationUri"]["Fn::Sub"][1]["FunctionArn"]
        targets[properties["RouteKey"]] = function_arn["Fn::GetAtt"][0]
    assert targets == {
        "$connect": "ConnectFunction",
        "$disconnect": "DisconnectFunction",
        "$default": "DefaultFunction",
    }
    resolver = Resolver(template, sam.STACK)
    for route_key, function in targets.items():
        permission = one_of_type(
            template,
            "AWS::Lambda::Permission",
            FunctionName={"Fn::GetAtt": [function, "Arn"]},
        )["Properties"]
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["Action"] == "lambda:InvokeFunction"
        source_arn = resolver.resolve(permission["SourceArn"])
        assert source_arn == (
            f"arn:aws:execute-api:{sam.REGION}:{sam.ACCOUNT}:"
            f"{resolver.get_att('WebSocketApi', 'ApiId')}/dev/{route_key}"
        )


def test_each_http_route_is_granted_to_invoke_the_publish_function() -> None:
    template = sam.deployed()
    resolver = Resolver(template, sam.STACK)
    resolver.parameters["PublishApi"] = "httpapi"
    permissions = of_type(template, "AWS::Lambda::Permission")
    arns = {
        resolver.resolve(p["Properties"]["SourceArn"])
        for p in permissions.values()
        if p["Properties"]["FunctionName"] == {"Ref": "PublishFunction"}
    }
    prefix = f"arn:aws:execute-api:{sam.REGION}:{sam.ACCOUNT}:httpapi/*"
    assert arns == {
        f"{prefix}/POST/publish",
        f"{prefix}/POST/users/*/messages",
        f"{prefix}/GET/channels/*/history",
    }


@pytest.mark.parametrize("variant", ENVS)
def test_the_stages_take_each_environments_settings(variant: str) -> None:
    template = sam.deployed(variant)
    params = sam.parameters(variant)
    for name, stage in of_type(template, "AWS::ApiGatewayV2::Stage").items():
        properties = stage["Properties"]
        assert properties["StageName"] == {"Ref": "StageName"}, name
        assert properties["AutoDeploy"] is True, name
        settings = properties["DefaultRouteSettings"]
        assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
        assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    websocket = template["Resources"]["WebSocketApiStage"]["Properties"]
    assert websocket["DefaultRouteSettings"]["DataTraceEnabled"] is False
    assert websocket["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": ["AccessLogGroup", "Arn"]
    }
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", params["StageName"])


# ---------------------------------------------------------------- keeping data


RETAINED = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup")


@pytest.mark.parametrize("variant", VARIANTS)
def test_tables_queues_and_log_groups_outlive_the_stack(variant: str) -> None:
    template = sam.deployed(variant)
    kept = {n: r for n, r in template["Resources"].items() if r["Type"] in RETAINED}
    # with the channel states table, the events DLQ and log group; and the webhook's DLQ
    assert len(kept) == (19 if variant == "webhook" else 18)
    for name, resource in kept.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


# ---------------------------------------------------------------- the dead-letter alarm


def test_the_dead_letter_alarm_notifies_nobody_unless_asked() -> None:
    template = sam.deployed()
    alarm = template["Resources"]["FanoutDeadLetterAlarm"]["Properties"]
    assert "AlarmActions" not in alarm
    assert not of_type(template, "AWS::SNS::Topic")
    assert not of_type(template, "AWS::SNS::Subscription")


def test_alarm_email_creates_a_topic_and_subscribes_the_address() -> None:
    template = sam.deployed("alarm-email")
    alarm = template["Resources"]["FanoutDeadLetterAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert list(of_type(template, "AWS::SNS::Topic")) == ["AlarmTopic"]
    [subscription] = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
        "TopicArn": {"Ref": "AlarmTopic"},
    }
    assert sam.parameters("alarm-email")["AlarmEmail"] == "ops@example.com"


def test_alarm_topic_arn_is_notified_instead_of_a_new_topic() -> None:
    template = sam.deployed("alarm-topic")
    alarm = template["Resources"]["FanoutDeadLetterAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
    assert not of_type(template, "AWS::SNS::Topic")
    assert not of_type(template, "AWS::SNS::Subscription")


# ---------------------------------------------------------------- partitions


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [key, *_strings(value)]]
    return []


def test_no_dns_suffix_is_written_out_in_the_template() -> None:
    # service principals (apigateway.amazonaws.com, ...) are the same in every partition
    template = sam.deployed()
    for text in _strings({**template["Resources"], **template["Outputs"]}):
        if ".amazonaws.com" in text:
            assert re.fullmatch(r"[a-z0-9-]+\.amazonaws\.com", text), text


def test_the_urls_follow_the_partition() -> None:
    template = sam.deployed()
    resolver = Resolver(template, sam.STACK)
    resolver.parameters.update({"AWS::Region": "cn-north-1", "AWS::URLSuffix": "amazonaws.com.cn"})
    resolver.parameters["StageName"] = "prod"
    outputs = {name: resolver.resolve(o["Value"]) for name, o in template["Outputs"].items()}
    api = resolver.ref("WebSocketApi")
    assert outputs["WebSocketUrl"] == f"wss://{api}.execute-api.cn-north-1.amazonaws.com.cn/prod"
    assert outputs["ConnectionsUrl"].startswith(
        f"https://{api}.execute-api.cn-north-1.amazonaws.com.cn/"
    )
    publish = template["Resources"]["PublishFunction"]["Properties"]["Environment"]["Variables"]
    assert resolver.resolve(publish["MANAGEMENT_ENDPOINT"]) == (
        f"https://{api}.execute-api.cn-north-1.amazonaws.com.cn/prod"
    )
