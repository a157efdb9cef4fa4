"""The template reader (:mod:`local_gateway.template`): Globals, intrinsics, layers under
conditions, routes, tables, and a template read once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from local_gateway.template import (
    DynamoDbEventSource,
    HttpRoute,
    TemplateError,
    load_application,
    parse_template,
    yaml_tags,
)
from tests.conftest import ROOT

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


def test_a_template_without_a_websocket_api_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent("Resources: {}\n"))
    with pytest.raises(TemplateError):
        load_application(path)


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
    # $default verifies too: the `auth` action's fresh token
    assert with_crypto == {"ConnectFunction", "DefaultFunction", "PublishFunction"}


QUEUES = """\
Resources:
  Api:
    Type: AWS::Serverless::WebSocketApi
    Properties:
      Routes:
        $default: {FunctionArn: !GetAtt Fn.Arn}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Environment:
        Variables:
          QUEUE_URL: !Ref Jobs
          QUEUE_ARN: !GetAtt Jobs.Arn
  Jobs:
    Type: AWS::SQS::Queue
    Properties: {QueueName: jobs-local, VisibilityTimeout: 30}
"""


def test_a_template_parsed_once_is_served_with_the_queue_endpoint_without_reading_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(QUEUES)
    parsed = parse_template(path)
    assert parsed.path == path.resolve()
    assert parsed.has_resource_of_type("AWS::SQS::Queue")
    assert not parsed.has_resource_of_type("AWS::DynamoDB::Table")

    def no_second_read(_: Path) -> None:
        raise AssertionError("the template was read again")

    monkeypatch.setattr(yaml_tags, "read_yaml", no_second_read)
    without = load_application(parsed)
    local = load_application(parsed, queue_endpoint="http://127.0.0.1:4566/")
    assert without.functions["Fn"].environment["QUEUE_URL"] == "Jobs"
    assert local.functions["Fn"].environment == {
        "QUEUE_URL": "http://127.0.0.1:4566/123456789012/jobs-local",
        "QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:jobs-local",
    }
    (queue,) = local.queues
    assert (queue.logical_id, queue.name, dict(queue.attributes)) == (
        "Jobs",
        "jobs-local",
        {"VisibilityTimeout": "30"},
    )
    assert local.template_path == path.resolve()


def test_a_document_that_is_not_a_mapping_is_not_a_template(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(TemplateError, match="not a template"):
        parse_template(path)


def test_the_templates_dynamodb_events_are_read_with_their_settings() -> None:
    app = load_application(ROOT / "template.yaml")
    sources = {source.table: source for source in app.stream_events}
    assert set(sources) == {"ConnectionsTable", "SubscriptionsTable", "PresenceTable"}
    for source in sources.values():
        assert (source.function, source.batch_size, source.batching_window) == (
            "EventsFunction",
            100,
            1.0,
        )
        assert (source.maximum_retry_attempts, source.report_batch_item_failures) == (10, True)
        assert source.starting_position == "TRIM_HORIZON"
    assert sources["ConnectionsTable"].filters == ({"eventName": ["INSERT", "REMOVE"]},)
    assert sources["PresenceTable"].filters == ()
    assert ("EventsFunction", "DynamoDB") not in app.unserved_events


def test_a_dynamodb_event_gets_globals_and_defaults_and_must_name_a_tables_stream(
    tmp_path: Path,
) -> None:
    template = textwrap.dedent(
        """\
        Globals:
          Function:
            Events:
              Changes:
                Type: DynamoDB
                Properties:
                  Stream: !GetAtt Things.StreamArn
                  StartingPosition: LATEST
        Resources:
          Api:
            Type: AWS::Serverless::WebSocketApi
            Properties:
              Routes:
                $default: {FunctionArn: !GetAtt Fn.Arn}
          Things:
            Type: AWS::DynamoDB::Table
            Properties:
              AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
              KeySchema: [{AttributeName: id, KeyType: HASH}]
              BillingMode: PAY_PER_REQUEST
              StreamSpecification: {StreamViewType: NEW_IMAGE}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn}
        """
    )
    path = tmp_path / "template.yaml"
    path.write_text(template)
    app = load_application(path)
    assert app.stream_events == (DynamoDbEventSource(function="Fn", table="Things"),)
    path.write_text(template.replace("!GetAtt Things.StreamArn", "!GetAtt Fn.Arn"))
    with pytest.raises(TemplateError, match=r"^Fn: a DynamoDB event's Stream must be a table's"):
        load_application(path)
