"""Handlers fed the events AWS publishes, and our events checked against AWS's schemas.

- The HTTP API event of AWS's SAM CLI (tests/aws_artefacts/events/HttpApi.json, payload
  format 2.0, its body base64-encoded as SAM CLI writes it) drives the publish function.
- The sample events of ``events/`` and those the local gateway builds
  (``local_gateway.events``) validate against Powertools' parser models, the pydantic
  schemas AWS's Powertools team keeps for API Gateway's WebSocket and HTTP API events.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from pydantic import BaseModel

from functions.publish import app as publish_app
from local_gateway import events as gateway_events
from tests.conftest import (
    CONTEXT,
    EVENTS,
    ROOT,
    ManagementApiFake,
    connect,
    load_event,
    make_token,
    send_frame,
)

SAM_CLI_HTTP_API = ROOT / "tests" / "aws_artefacts" / "events" / "HttpApi.json"


def sam_cli_http_event(method: str, path: str, body: bytes, **fields: str) -> dict[str, Any]:
    """SAM CLI's HTTP API event, its template filled in as ``sam local generate-event``
    does (the body base64-encoded)."""
    values = {
        "method": method,
        "path": path.lstrip("/"),
        "body": base64.b64encode(body).decode(),
        "stage": "$default",
        "account_id": "123456789012",
        "dns_suffix": "us-east-1.amazonaws.com",
        **fields,
    }
    text = SAM_CLI_HTTP_API.read_text()
    for name, value in values.items():
        text = text.replace("{{{" + name + "}}}", value)
    assert "{{{" not in text
    event: dict[str, Any] = json.loads(text)
    return event


def test_the_publish_function_takes_sam_clis_http_api_event(
    management: ManagementApiFake,
) -> None:
    connect("AWSEVENTS000001=", "alice")
    send_frame("AWSEVENTS000001=", {"action": "subscribe", "channel": "room:aws"})
    event = sam_cli_http_event("POST", "/publish", b'{"channel":"room:aws","data":{"n":1}}')
    APIGatewayProxyEventV2Model.model_validate(event)
    # the route API Gateway matched (SAM CLI's template says $default) and the credential
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /publish"
    event["headers"]["authorization"] = "Bearer " + make_token("backend", scope="publish")
    assert event["isBase64Encoded"] is True

    response = publish_app.lambda_handler(event, CONTEXT)

    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["delivered"] == 1
    [message] = [f for f in management.frames["AWSEVENTS000001="] if f["type"] == "message"]
    assert (message["channel"], message["data"], message["from"]) == (
        "room:aws",
        {"n": 1},
        "backend",
    )


def test_sam_clis_event_without_a_credential_is_a_401() -> None:
    event = sam_cli_http_event("POST", "/publish", b"{}")
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /publish"
    response = publish_app.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["code"] == "unauthorized"


MODELS: dict[str, type[BaseModel]] = {
    "connect": APIGatewayWebSocketConnectEventModel,
    "connect_subprotocol": APIGatewayWebSocketConnectEventModel,
    "disconnect": APIGatewayWebSocketDisconnectEventModel,
    "publish": APIGatewayProxyEventV2Model,
    "user_message": APIGatewayProxyEventV2Model,
    "channel_history": APIGatewayProxyEventV2Model,
}


def _model_of(name: str) -> type[BaseModel]:
    return MODELS.get(name, APIGatewayWebSocketMessageEventModel)  # default_*: messages


@pytest.mark.parametrize("name", sorted(p.stem for p in EVENTS.glob("*.json")))
def test_each_sample_event_is_valid_for_powertools_model(name: str) -> None:
    assert (EVENTS / f"{name}.json").exists()
    _model_of(name).model_validate(load_event(name))


def test_every_sample_event_has_a_model() -> None:
    names = {p.stem for p in Path(EVENTS).glob("*.json")}
    messages = {n for n in names if n.startswith("default_")}
    assert names == set(MODELS) | messages


INFO = gateway_events.ConnectionInfo(
    connection_id="LOCAL0000000001=",
    api_id="local0wsapi",
    stage="dev",
    domain_name="localhost:3001",
    source_ip="127.0.0.1",
    user_agent="test",
    connected_at=1764620000000,
    last_active_at=1764620000000,
    headers=[("Host", "localhost:3001"), ("Origin", "https://app.example")],
    query="token=x&x=1&x=2",
)


def test_the_local_gateways_websocket_events_are_valid_for_powertools_models() -> None:
    connected = APIGatewayWebSocketConnectEventModel.model_validate(
        gateway_events.connect_event(INFO)
    )
    assert connected.request_context.event_type == "CONNECT"
    message = APIGatewayWebSocketMessageEventModel.model_validate(
        gateway_events.message_event(INFO, "$default", '{"action":"ping"}')
    )
    assert message.body == '{"action":"ping"}'
    disconnected = APIGatewayWebSocketDisconnectEventModel.model_validate(
        gateway_events.disconnect_event(INFO, 1009, "Message too big")
    )
    assert disconnected.request_context.disconnect_status_code == 1009
    assert disconnected.request_context.disconnect_reason == "Message too big"


@pytest.mark.parametrize(
    "body", [pytest.param(b'{"a":1}', id="text"), pytest.param(b"\xff\x00", id="binary")]
)
def test_the_local_gateways_http_api_event_is_valid_for_powertools_model(body: bytes) -> None:
    event = gateway_events.http_api_event(
        route_key="POST /users/{userId}/messages",
        method="POST",
        raw_path="/users/bob/messages",
        raw_query="a=1&a=2",
        headers=[("Host", "localhost:3001"), ("Cookie", "a=1; b=2"), ("X-A", "1"), ("x-a", "2")],
        body=body,
        path_parameters={"userId": "bob"},
        api_id="local0httpapi",
        stage="$default",
        source_ip="127.0.0.1",
    )
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    assert parsed.pathParameters == {"userId": "bob"}
    assert parsed.cookies == ["a=1", "b=2"]
    assert parsed.headers["x-a"] == "1,2"
    assert parsed.isBase64Encoded is (body == b"\xff\x00")
