"""The local gateway's plain-value parts, without sockets: the template reader, route
selection and the event builders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from local_gateway import events
from local_gateway.routing import HttpRouter, select_websocket_route
from local_gateway.settings import Settings, function_environment
from local_gateway.template import HttpRoute, TemplateError, load_application
from tests.e2e.conftest import ROOT

TEMPLATE = """\
Parameters:
  StageName: {Type: String, Default: beta}
  SecretId: {Type: String, Default: ""}
Conditions:
  HasSecretId: !Not [!Equals [!Ref SecretId, ""]]
Globals:
  Function:
    Timeout: 7
    Layers: [!Ref Lib]
    Environment:
      Variables:
        TABLE: !Ref Things
        WHERE: !Sub "${AWS::Region}/${StageName}"
        KEEP: global
Resources:
  Api:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      StageName: !Ref StageName
      RouteSelectionExpression: $request.body.type
      Routes:
        $default: {FunctionArn: !GetAtt Fn.Arn}
  Lib:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: lib/}
  Extra:
    Type: AWS::Serverless::LayerVersion
    Condition: HasSecretId
    Properties: {ContentUri: extra/}
  Other:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: other/}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: main.handle
      Layers:
        - !If [HasSecretId, !Ref Extra, !Ref AWS::NoValue]
        - !If [HasSecretId, !Ref AWS::NoValue, !Ref Other]
      Environment:
        Variables:
          SECRET_ID: !If [HasSecretId, !Ref SecretId, !Ref AWS::NoValue]
          ARN: !GetAtt Things.Arn
      Events:
        Post:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: post
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
"""


def test_the_template_is_read_with_globals_and_intrinsics(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    app = load_application(path)
    api = app.websocket_api
    assert (api.stage, api.route_selection_expression) == ("beta", "$request.body.type")
    assert api.routes == {"$default": "Fn"}
    function = app.functions["Fn"]
    assert function.code_dir == tmp_path / "fn"
    assert function.handler == "main.handle"
    assert function.timeout == 7
    # the global layer, then the function's: a layer under a false !If is left out
    assert function.layer_dirs == (tmp_path / "lib", tmp_path / "other")
    assert function.environment == {
        "TABLE": "Things",
        "WHERE": "us-east-1/beta",
        "KEEP": "global",
        "ARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Things",
    }
    assert app.http_routes == (HttpRoute("Fn", "POST", "/items/{id}"),)
    (table,) = app.tables
    assert table.name == "Things"
    assert table.ttl_attribute == "expires"
    assert table.create_table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_the_projects_template_is_served() -> None:
    app = load_application(ROOT / "template.yaml")
    assert {"$connect", "$disconnect", "$default"} <= set(app.websocket_api.routes)
    connect = app.functions[app.websocket_api.routes["$connect"]]
    assert (ROOT / "layers" / "switchboard").resolve() in connect.layer_dirs
    # JwksUrl is empty by default: HS256 tokens, no crypto layer
    assert (ROOT / "layers" / "crypto").resolve() not in connect.layer_dirs
    assert connect.environment["CONNECTIONS_TABLE"] == "ConnectionsTable"
    queue_urls = {
        spec.environment[key]
        for spec in app.functions.values()
        for key in spec.environment
        if key.endswith("QUEUE_URL")
    }
    assert not any(url.startswith(("http://", "https://")) for url in queue_urls)


def test_tracing_is_off_locally_whatever_the_template_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = load_application(ROOT / "template.yaml")
    spec = app.functions["DefaultFunction"]
    assert spec.environment["POWERTOOLS_TRACE_DISABLED"] == "false"  # Tracing: Active
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    local = function_environment(
        spec, Settings(), management_endpoint="http://x", dynamodb_endpoint="http://y"
    )
    assert local["POWERTOOLS_TRACE_DISABLED"] == "true"  # no X-Ray daemon here
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")  # the developer may ask
    local = function_environment(
        spec, Settings(), management_endpoint="http://x", dynamodb_endpoint="http://y"
    )
    assert local["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_a_template_without_a_websocket_api_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent("Resources: {}\n"))
    with pytest.raises(TemplateError):
        load_application(path)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param('{"action": "join"}', "join", id="route"),
        pytest.param('{"action": "other"}', "$default", id="no-such-route"),
        pytest.param('{"action": "$connect"}', "$default", id="reserved-key"),
        pytest.param("not json", "$default", id="not-json"),
        pytest.param('{"action": 3}', "$default", id="not-a-string"),
        pytest.param('["join"]', "$default", id="not-an-object"),
    ],
)
def test_route_selection(body: str, expected: str) -> None:
    routes = {"$connect", "$default", "join"}
    assert select_websocket_route("$request.body.action", body, routes) == expected


def test_route_selection_without_default_finds_nothing() -> None:
    assert select_websocket_route("$request.body.action", "{}", {"join"}) is None
    nested = '{"meta": {"kind": "join"}}'
    assert select_websocket_route("$request.body.meta.kind", nested, {"join"}) == "join"


def test_http_routes_prefer_the_most_specific() -> None:
    router = HttpRouter(
        [
            HttpRoute("Default", "ANY", "$default"),
            HttpRoute("Proxy", "ANY", "/files/{path+}"),
            HttpRoute("Param", "GET", "/files/{name}"),
            HttpRoute("Exact", "GET", "/files/readme"),
        ]
    )

    def pick(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        found = router.match(method, path)
        return None if found is None else (found[0].function, found[1])

    assert pick("GET", "/files/readme") == ("Exact", {})
    assert pick("GET", "/files/a.txt") == ("Param", {"name": "a.txt"})
    assert pick("POST", "/files/a.txt") == ("Proxy", {"path": "a.txt"})
    assert pick("GET", "/files/a/b") == ("Proxy", {"path": "a/b"})
    assert pick("DELETE", "/elsewhere") == ("Default", {})


def test_ids_and_times_have_api_gateways_format() -> None:
    assert len(events.new_id()) == 16
    assert events.new_id().endswith("=")
    assert events.request_time(1_707_502_303_419) == "09/Feb/2024:18:11:43 +0000"
    assert events.iso8601(1_707_502_303_419) == "2024-02-09T18:11:43.419Z"


def test_with_a_jwks_url_the_token_checking_functions_get_the_crypto_layer(
    tmp_path: Path,
) -> None:
    """RS256/ES256 need `cryptography`, which only the crypto layer has: the functions
    that verify tokens ($connect and the backend API) must get it when JwksUrl is set."""
    text = (ROOT / "template.yaml").read_text()
    marker = '  JwksUrl:\n    Type: String\n    Default: ""\n'
    assert marker in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(marker, marker.replace('""', "https://issuer.example/jwks")))
    app = load_application(path)
    crypto = tmp_path / "layers" / "crypto"
    with_crypto = {name for name, spec in app.functions.items() if crypto in spec.layer_dirs}
    assert with_crypto == {"ConnectFunction", "PublishFunction"}


def test_route_selection_survives_any_nesting() -> None:
    """A body nested 100,000 levels deep is not JSON that routes: it goes to $default."""
    deep = '{"action":"join","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert select_websocket_route("$request.body.action", deep, {"join", "$default"}) == "$default"


def test_a_failing_gateway_task_is_logged_with_its_traceback() -> None:
    import asyncio
    import io

    from local_gateway.eventlog import EventLog
    from local_gateway.server import Gateway
    from local_gateway.workers import Workers

    stream = io.StringIO()
    gateway = Gateway(
        load_application(ROOT / "template.yaml"),
        Workers(),
        EventLog(stream),
        idle_timeout=600,
        max_duration=7200,
    )

    async def failing() -> None:
        raise RuntimeError("a gateway bug")

    async def ok() -> None:
        pass

    async def run() -> None:
        await asyncio.gather(gateway.spawn(failing()), gateway.spawn(ok()), return_exceptions=True)

    asyncio.run(run())
    output = stream.getvalue()
    assert output.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: a gateway bug" in output
    assert "failed" in output
