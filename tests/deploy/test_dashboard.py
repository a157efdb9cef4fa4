"""The CloudWatch dashboard and the error-rate alarm, as CloudFormation receives them.

The dashboard's body is a ``Fn::Sub`` string: each variable must be one CloudFormation can
resolve (a resource, a parameter, a pseudo parameter) or one of its own (the hooks' alarm
and widget, a ``Fn::Sub`` of the stack's variables with ``HooksModule``, else empty), and
the text must be JSON once they are substituted. Every metric it draws is either one the
handlers emit (read from the EMF documents :mod:`switchboard.telemetry` writes) or one AWS
documents for its namespace (tests/aws_artefacts/cloudwatch_metrics.json, with its sources).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Iterator
from html import escape
from typing import Any

import pytest

from switchboard import telemetry
from switchboard.errors import Refusal
from switchboard.fanout import FanoutReport
from switchboard.lifecycle import HandshakeResult
from tests.conftest import ROOT
from tests.deploy import sam
from tests.deploy.test_template import of_type

AWS_METRICS = json.loads((ROOT / "tests/aws_artefacts/cloudwatch_metrics.json").read_text())
PSEUDO = {
    "AWS::Region": sam.REGION,
    "AWS::StackName": sam.STACK,
    "AWS::AccountId": sam.ACCOUNT,
    "AWS::Partition": "aws",
}
VARIANTS_PARAMS = sam.variants()
VARIANTS = list(VARIANTS_PARAMS)
Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions
HOOKED = [v for v, params in VARIANTS_PARAMS.items() if params.get("HooksModule")]
# the functions that run hooks, and the points each runs (docs/hooks.md)
HOOK_FUNCTIONS = {
    "ConnectFunction": {"connect"},
    "DefaultFunction": {"subscribe", "publish", "rpc"},
    "DisconnectFunction": {"disconnect"},
}
VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def sample_value(template: dict[str, Any], variable: str, params: dict[str, Any]) -> str:
    """What CloudFormation would put for ``${variable}``: a made-up physical id, in the
    shape AWS gives it, for a resource; the value for a parameter or pseudo parameter."""
    if variable in PSEUDO:
        return PSEUDO[variable]
    if variable in params:
        return str(params[variable])
    name, _, attribute = variable.partition(".")
    kind = template["Resources"][name]["Type"]  # a KeyError: not a resource of the stack
    if not attribute and kind == "AWS::CloudWatch::Alarm":
        return f"{sam.STACK}-{name}-A1B2C3"
    if attribute == "QueueName" and kind == "AWS::SQS::Queue":
        return f"{sam.STACK}-{name}-Q1W2E3R4"
    if not attribute and kind == "AWS::Lambda::Function":
        return f"{sam.STACK}-{name}-F1G2H3J4"
    if not attribute and kind == "AWS::ApiGatewayV2::Api":
        return "a1b2c3d4e5"
    raise AssertionError(f"no sample for ${{{variable}}} ({kind})")


def dashboard(variant: str = "defaults") -> tuple[dict[str, Any], dict[str, str]]:
    """The dashboard body with sample values substituted, and which variable each sample
    value stands for."""
    template = sam.deployed(variant)
    [resource] = of_type(template, "AWS::CloudWatch::Dashboard").values()
    text, own = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    params = sam.parameters(variant)
    samples: dict[str, str] = {}

    def substituted(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            if match[1] in own:  # "" or a one-argument Fn::Sub: every variable the stack's
                inner = own[match[1]]
                return inner if isinstance(inner, str) else substituted(inner["Fn::Sub"])
            samples[match[1]] = sample_value(template, match[1], params)
            return samples[match[1]]

        return VARIABLE.sub(value, text)

    body = json.loads(substituted(text))
    return body, {value: variable for variable, value in samples.items()}


def metric_lines(body: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """(widget properties, metric line) of every metric the dashboard draws."""
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for line in widget["properties"]["metrics"]:
                yield widget["properties"], line


def parse_line(line: list[Any]) -> tuple[Metric, dict[str, Any]]:
    """A metric line, ``[namespace, name, dim, value, ..., {options}?]``, as a metric and
    its options (``"."``, the console's shorthand for "as above", is not used)."""
    options = line[-1] if isinstance(line[-1], dict) else {}
    words = line[:-1] if options else line
    assert all(isinstance(w, str) and w != "." for w in words), line
    namespace, name, *pairs = words
    assert len(pairs) % 2 == 0, line
    dimensions = frozenset(zip(pairs[::2], pairs[1::2], strict=True))
    return (namespace, name, dimensions), options


def emitted_metrics() -> set[Metric]:
    """Every metric :mod:`switchboard.telemetry` writes, read from its EMF documents."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        telemetry.record_publish("room:lobby", FanoutReport(delivered=2, pruned=1, queued=3))
        telemetry.record_batch(FanoutReport(delivered=1, failed=1, queued=1))
        telemetry.record_handshake(HandshakeResult(status=200, headers={}, reason="OK"))
        for refusal in Refusal:
            telemetry.record_handshake(
                HandshakeResult(status=401, headers={}, reason="no", refusal=refusal)
            )
        telemetry.record_disconnect()
        telemetry.metrics.flush_metrics()
        for function, points in HOOK_FUNCTIONS.items():  # as each function names itself
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = f"{sam.STACK}-{function}-F1G2H3J4"
            try:
                for point in sorted(points):
                    telemetry.record_hook_error(point)
                telemetry.record_hooks_import_failed()
            finally:
                del os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    metrics: set[Metric] = set()
    for line in out.getvalue().splitlines():
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for names in directive["Dimensions"]:
                dimensions = frozenset((n, document[n]) for n in names)
                metrics.update(
                    (directive["Namespace"], m["Name"], dimensions) for m in directive["Metrics"]
                )
    return metrics


# ---------------------------------------------------------------- the body


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_body_is_json_after_substitution_with_the_stacks_own_variables(
    variant: str,
) -> None:
    body, _ = dashboard(variant)
    assert len(body["widgets"]) >= 8
    for widget in body["widgets"]:
        assert widget["x"] >= 0, widget
        assert widget["x"] + widget["width"] <= 24, widget
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == sam.REGION


def test_the_helpers_emit_what_the_handlers_count() -> None:
    emitted = {(name, dict(dims).get("reason")) for _, name, dims in emitted_metrics()}
    assert emitted == {
        *((n, None) for n in ("Published", "Delivered", "Pruned", "DeliveryFailed")),
        *((n, None) for n in ("DeliveryRetries", "Queued", "Requeued")),
        *((n, None) for n in ("Connected", "Disconnected")),
        *(("Refused", r.value) for r in Refusal),
        ("HooksImportFailed", None),
        ("HookErrors", None),
    }
    hooks = {dict(dims)["hook"] for _, name, dims in emitted_metrics() if name == "HookErrors"}
    assert hooks == set(telemetry.HOOK_POINTS)


@pytest.mark.parametrize("variant", ["defaults", *HOOKED])
def test_every_switchboard_metric_is_one_the_code_emits(variant: str) -> None:
    body, _ = dashboard(variant)
    emitted = emitted_metrics()
    ours = [parse_line(line)[0] for _, line in metric_lines(body)]
    ours = [m for m in ours if m[0] == telemetry.NAMESPACE]
    assert len(ours) >= 15
    for metric in ours:
        assert metric in emitted, metric
    # the service dimension is what the deployed functions set, as the test run does
    for function in of_type(sam.deployed(), "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == telemetry.metrics.service


def test_every_aws_metric_is_one_aws_documents_for_its_namespace() -> None:
    body, _ = dashboard()
    aws = [parse_line(line)[0] for _, line in metric_lines(body)]
    aws = [m for m in aws if m[0] != telemetry.NAMESPACE]
    assert {m[0] for m in aws} == set(AWS_METRICS["namespaces"])
    for namespace, name, dimensions in aws:
        documented = AWS_METRICS["namespaces"][namespace]
        assert name in documented["metrics"], (namespace, name)
        assert sorted(d for d, _ in dimensions) in documented["dimension_sets"], name


def referenced(metric: Metric, samples: dict[str, str]) -> dict[str, str]:
    """A metric's dimensions with each sample value put back as the variable it was."""
    return {name: samples.get(value, value) for name, value in metric[2]}


def test_the_api_gateway_metrics_are_the_websocket_apis_stage() -> None:
    body, samples = dashboard()
    template = sam.deployed()
    [stage] = [
        s
        for s in of_type(template, "AWS::ApiGatewayV2::Stage").values()
        if s["Properties"]["ApiId"] == {"Ref": "WebSocketApi"}
    ]
    assert stage["Properties"]["StageName"] == {"Ref": "StageName"}
    names = set()
    for _, line in metric_lines(body):
        metric, _ = parse_line(line)
        if metric[0] == "AWS/ApiGateway":
            names.add(metric[1])
            assert referenced(metric, samples) == {"ApiId": "WebSocketApi", "Stage": "StageName"}
    assert {"ConnectCount", "MessageCount", "ClientError", "ExecutionError"} <= names


def lambda_lines(body: dict[str, Any], samples: dict[str, str], name: str) -> dict[str, str]:
    """Function logical id -> the statistic the dashboard draws ``name`` with."""
    out = {}
    for props, line in metric_lines(body):
        metric, options = parse_line(line)
        if metric[:2] == ("AWS/Lambda", name):
            out[referenced(metric, samples)["FunctionName"]] = options.get("stat", props["stat"])
    return out


@pytest.mark.parametrize(
    ("name", "stat"),
    [
        pytest.param("Errors", "Sum", id="errors"),
        pytest.param("Duration", "p99", id="duration-p99"),
        pytest.param("Throttles", "Sum", id="throttles"),
    ],
)
def test_each_function_has_its_errors_p99_duration_and_throttles(name: str, stat: str) -> None:
    body, samples = dashboard()
    functions = set(of_type(sam.deployed(), "AWS::Lambda::Function"))
    assert len(functions) == 6  # with the backend events function
    assert lambda_lines(body, samples, name) == dict.fromkeys(functions, stat)


def test_the_dead_letter_depth_is_the_dead_letter_queues() -> None:
    body, samples = dashboard()
    queues = {
        referenced(metric, samples)["QueueName"]: options.get("stat", props["stat"])
        for props, line in metric_lines(body)
        for metric, options in [parse_line(line)]
        if metric[:2] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    assert queues["FanoutDeadLetterQueue.QueueName"] == "Maximum"
    redrive = sam.deployed()["Resources"]["FanoutQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["FanoutDeadLetterQueue", "Arn"]}


def test_refusals_are_drawn_for_every_reason_and_fan_out_for_every_outcome() -> None:
    body, _ = dashboard()
    drawn = {parse_line(line)[0] for _, line in metric_lines(body)}
    reasons = {dict(dims)["reason"] for ns, name, dims in drawn if name == telemetry.REFUSED}
    assert reasons == {r.value for r in Refusal}
    fanout = {telemetry.DELIVERED, telemetry.PRUNED, telemetry.DELIVERY_FAILED, telemetry.QUEUED}
    assert fanout <= {name for _, name, _ in drawn}


@pytest.mark.parametrize("variant", ["defaults", *HOOKED])
def test_the_alarm_widget_shows_the_stacks_alarms(variant: str) -> None:
    body, samples = dashboard(variant)
    [widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarms = of_type(sam.deployed(variant), "AWS::CloudWatch::Alarm")
    prefix = f"arn:aws:cloudwatch:{sam.REGION}:{sam.ACCOUNT}:alarm:"
    assert sorted(widget["properties"]["alarms"]) == sorted(
        prefix + sample for sample, variable in samples.items() if variable in alarms
    )
    assert {samples[a.removeprefix(prefix)] for a in widget["properties"]["alarms"]} == set(alarms)


# ---------------------------------------------------------------- the error-rate alarm


def test_the_error_rate_is_every_functions_errors_over_its_invocations() -> None:
    template = sam.deployed()
    alarm = template["Resources"]["HandlerErrorRateAlarm"]["Properties"]
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    [returned] = [q for q in alarm["Metrics"] if q["ReturnData"]]
    assert returned["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
    functions = set(of_type(template, "AWS::Lambda::Function"))
    for total, metric_name in (("errors", "Errors"), ("invocations", "Invocations")):
        ids = re.fullmatch(r"SUM\(\[(.*)\]\)", queries[total]["Expression"])[1].split(", ")
        stats = [queries[i]["MetricStat"] for i in ids]
        assert {s["Metric"]["Namespace"] for s in stats} == {"AWS/Lambda"}
        assert {s["Metric"]["MetricName"] for s in stats} == {metric_name}
        assert metric_name in AWS_METRICS["namespaces"]["AWS/Lambda"]["metrics"]
        assert {s["Stat"] for s in stats} == {"Sum"}
        named = [s["Metric"]["Dimensions"] for s in stats]
        assert sorted(d[0]["Value"]["Ref"] for d in named) == sorted(functions)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    ("variant", "actions"),
    [
        pytest.param("defaults", None, id="nobody"),
        pytest.param("alarm-email", [{"Ref": "AlarmTopic"}], id="email-topic"),
        pytest.param("alarm-topic", [{"Ref": "AlarmTopicArn"}], id="given-topic"),
        pytest.param("hooks", None, id="hooks-nobody"),
        pytest.param("hooks-alarm-email", [{"Ref": "AlarmTopic"}], id="hooks-email-topic"),
    ],
)
def test_every_alarm_notifies_what_the_dead_letter_alarm_does(
    variant: str, actions: list[Any] | None
) -> None:
    alarms = of_type(sam.deployed(variant), "AWS::CloudWatch::Alarm")
    hooks = {"HookErrorAlarm"} if variant in HOOKED else set()
    assert set(alarms) == {"FanoutDeadLetterAlarm", "HandlerErrorRateAlarm", *hooks}
    for alarm in alarms.values():
        assert alarm["Properties"].get("AlarmActions") == actions


# ---------------------------------------------------------------- the picture in the docs


def test_the_picture_in_the_docs_is_drawn_from_the_templates_dashboard() -> None:
    from scripts import dashboard_picture

    body = dashboard_picture.sample_body()
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert titles == [w["properties"]["title"] for w in dashboard("hooks")[0]["widgets"]]
    picture = dashboard_picture.OUT.read_text()
    assert picture == dashboard_picture.render(body), "run make dashboard-picture"
    for title in titles:
        assert f">{escape(title)}</text>" in picture
    assert "](dashboard.svg)" in (ROOT / "docs" / "operations.md").read_text()


# ---------------------------------------------------------------- the hooks' alarm


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_hook_alarm_and_widget_come_only_with_hooks_module(variant: str) -> None:
    alarms = of_type(sam.deployed(variant), "AWS::CloudWatch::Alarm")
    hooked = bool(sam.parameters(variant)["HooksModule"])
    assert ("HookErrorAlarm" in alarms) is hooked
    titles = [w["properties"].get("title") for w in dashboard(variant)[0]["widgets"]]
    assert ("Hook failures (HooksModule)" in titles) is hooked


def alarm_metrics(variant: str) -> dict[str, dict[str, Any]]:
    """The hook alarm's metric queries by id."""
    alarm = sam.deployed(variant)["Resources"]["HookErrorAlarm"]["Properties"]
    return {q["Id"]: q for q in alarm["Metrics"]}


def as_emitted(metric: dict[str, Any]) -> Metric:
    """A ``MetricStat``'s metric as the code names it (a function by its sample name)."""
    dimensions = frozenset(
        (
            d["Name"],
            f"{sam.STACK}-{d['Value']['Ref']}-F1G2H3J4" if "Ref" in d["Value"] else d["Value"],
        )
        for d in metric["Dimensions"]
    )
    return metric["Namespace"], metric["MetricName"], dimensions


@pytest.mark.parametrize("variant", HOOKED)
def test_the_hook_alarm_counts_every_hook_failure_this_stacks_functions_emit(variant: str) -> None:
    queries = alarm_metrics(variant)
    [returned] = [q for q in queries.values() if q["ReturnData"]]
    ids = re.fullmatch(r"SUM\(\[(.*)\]\)", returned["Expression"])[1].split(", ")
    assert sorted(ids) == sorted(i for i, q in queries.items() if not q["ReturnData"])
    stats = [queries[i]["MetricStat"] for i in ids]
    assert {(s["Period"], s["Stat"]) for s in stats} == {(300, "Sum")}
    emitted = {
        m
        for m in emitted_metrics()
        if m[1] in (telemetry.HOOK_ERRORS, telemetry.HOOKS_IMPORT_FAILED)
    }
    assert {as_emitted(s["Metric"]) for s in stats} == emitted  # every one, and no other
    assert len(stats) == len(emitted)
    for stat in stats:
        dimensions = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
        assert dimensions["service"] == telemetry.metrics.service
        assert dimensions[telemetry.FUNCTION_DIMENSION]["Ref"] in HOOK_FUNCTIONS
    alarm = sam.deployed(variant)["Resources"]["HookErrorAlarm"]["Properties"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("variant", HOOKED)
def test_the_hook_widget_draws_what_the_hook_alarm_counts(variant: str) -> None:
    body, _ = dashboard(variant)
    [widget] = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Hook")]
    drawn = {parse_line(line)[0] for line in widget["properties"]["metrics"]}
    counted = {
        as_emitted(q["MetricStat"]["Metric"])
        for q in alarm_metrics(variant).values()
        if "MetricStat" in q
    }
    assert drawn == counted
    assert widget["properties"]["stat"] == "Sum"
    assert widget["y"] >= max(w["y"] + w["height"] for w in body["widgets"] if w is not widget)
