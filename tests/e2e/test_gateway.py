"""The local gateway against the fixture application, with real clients.

websockets' client plays the browser; boto3's ``apigatewaymanagementapi`` client plays the
functions' fan-out. Fixture functions record the events they receive, so the tests assert
what API Gateway would have sent.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local_gateway.settings import DEFAULT_WS_SECRET
from tests.conftest import ROOT
from tests.e2e.conftest import GatewayProcess

pytestmark = pytest.mark.e2e

CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
REQUEST_TIME = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")
# API Gateway's quotas, as AWS documents them (tests/aws_artefacts/apigateway_quotas.json)
QUOTAS = json.loads((ROOT / "tests" / "aws_artefacts" / "apigateway_quotas.json").read_text())
LIMIT = QUOTAS["message_payload_size"]
FRAME = QUOTAS["websocket_frame_size"]
TOO_BIG = (QUOTAS["over_the_limit_close_code"], QUOTAS["over_the_limit_close_reason"])


def whoami(websocket: ClientConnection) -> dict[str, Any]:
    """The message event that the echo function received for ``__event__``."""
    websocket.send("__event__")
    event: dict[str, Any] = json.loads(websocket.recv(timeout=10))["event"]
    return event


def headers_of(websocket: ClientConnection) -> Any:
    """The handshake response's headers."""
    assert websocket.response is not None
    return websocket.response.headers


def http(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


# ---------------------------------------------------------------- $connect


def test_connect_is_accepted_and_events_have_api_gateways_shape(
    fixture_gateway: GatewayProcess,
) -> None:
    url = f"{fixture_gateway.url}/test?token=abc&tag=a&tag=b"
    with connect(url, user_agent_header="e2e-test/1.0") as websocket:
        event = whoami(websocket)
        context = event["requestContext"]
        connection_id = context["connectionId"]
        connected = fixture_gateway.record(f"connect-{connection_id}")

    assert CONNECTION_ID.match(connection_id)
    assert event["body"] == "__event__"
    assert event["isBase64Encoded"] is False
    assert context["routeKey"] == "$default"
    assert context["eventType"] == "MESSAGE"
    assert context["messageDirection"] == "IN"
    assert context["stage"] == "test"
    assert context["apiId"]
    assert CONNECTION_ID.match(context["messageId"])
    assert CONNECTION_ID.match(context["requestId"])
    assert context["extendedRequestId"]
    assert REQUEST_TIME.match(context["requestTime"])
    assert context["requestTimeEpoch"] >= context["connectedAt"]
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "e2e-test/1.0"}

    assert connected["queryStringParameters"] == {"token": "abc", "tag": "b"}
    assert connected["multiValueQueryStringParameters"] == {"token": ["abc"], "tag": ["a", "b"]}
    assert connected["isBase64Encoded"] is False
    headers = connected["headers"]
    assert headers["Sec-WebSocket-Version"] == "13"
    assert headers["User-Agent"] == "e2e-test/1.0"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert connected["multiValueHeaders"]["Upgrade"] == ["websocket"]
    connect_context = connected["requestContext"]
    assert connect_context["routeKey"] == "$connect"
    assert connect_context["eventType"] == "CONNECT"
    assert connect_context["connectionId"] == connection_id
    assert connect_context["connectedAt"] == context["connectedAt"]
    assert "messageId" not in connect_context


@pytest.mark.parametrize("status", [pytest.param(401, id="401"), pytest.param(403, id="403")])
def test_connect_is_refused_with_the_handlers_status(
    fixture_gateway: GatewayProcess, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{fixture_gateway.url}?status={status}")
    assert refused.value.response.status_code == status


def test_connect_handler_error_refuses_with_500(fixture_gateway: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{fixture_gateway.url}?fail=1")
    assert refused.value.response.status_code == 500


def test_a_path_other_than_the_stage_is_forbidden(fixture_gateway: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{fixture_gateway.url}/prod")
    assert refused.value.response.status_code == 403


def test_subprotocol_is_echoed_only_when_the_handler_returns_it(
    fixture_gateway: GatewayProcess,
) -> None:
    with connect(fixture_gateway.url, subprotocols=["switchboard", "a-token"]) as websocket:  # type: ignore[list-item]
        assert websocket.subprotocol == "switchboard"
        assert headers_of(websocket)["Sec-WebSocket-Protocol"] == "switchboard"
    with connect(fixture_gateway.url, subprotocols=["other"]) as websocket:  # type: ignore[list-item]
        assert websocket.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in headers_of(websocket)


def test_no_compression_is_negotiated(fixture_gateway: GatewayProcess) -> None:
    with connect(fixture_gateway.url) as websocket:
        assert "Sec-WebSocket-Extensions" not in headers_of(websocket)


def test_events_validate_against_powertools_models(fixture_gateway: GatewayProcess) -> None:
    with connect(f"{fixture_gateway.url}?token=t") as websocket:
        message = whoami(websocket)
        connection_id = message["requestContext"]["connectionId"]
        websocket.close(1000, "done")
    connected = fixture_gateway.record(f"connect-{connection_id}")
    disconnected = fixture_gateway.record(f"disconnect-{connection_id}")
    APIGatewayWebSocketConnectEventModel.model_validate(connected)
    APIGatewayWebSocketMessageEventModel.model_validate(message)
    parsed = APIGatewayWebSocketDisconnectEventModel.model_validate(disconnected)
    assert parsed.request_context.disconnect_status_code == 1000
    assert parsed.request_context.disconnect_reason == "done"


# ---------------------------------------------------------------- messages and routes


def test_route_selection_falls_back_to_default(fixture_gateway: GatewayProcess) -> None:
    with connect(fixture_gateway.url) as websocket:
        for message in ['{"action": "unknown"}', "not json", '{"no": "action"}', "[1, 2]"]:
            websocket.send(message)
            assert websocket.recv(timeout=10) == message


def test_a_handler_exception_sends_api_gateways_internal_error(
    fixture_gateway: GatewayProcess,
) -> None:
    with connect(fixture_gateway.url) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        websocket.send('{"action": "boom"}')
        reply = json.loads(websocket.recv(timeout=10))
        assert reply == {
            "message": "Internal server error",
            "connectionId": connection_id,
            "requestId": reply["requestId"],
        }
        assert CONNECTION_ID.match(reply["requestId"])
        websocket.send("still open")
        assert websocket.recv(timeout=10) == "still open"


def _closed_by_gateway(websocket: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        websocket.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _frames(size: int) -> list[str]:
    """A message of ``size`` bytes in frames of at most 32 KB (as AWS asks of clients)."""
    return ["x" * min(FRAME, size - start) for start in range(0, size, FRAME)]


def test_a_message_of_128_kb_in_32_kb_frames_passes_and_one_byte_more_closes_with_1009(
    fixture_gateway: GatewayProcess,
) -> None:
    with connect(fixture_gateway.url, max_size=None) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        websocket.send(_frames(LIMIT))  # websockets sends an iterable as fragments
        assert len(websocket.recv(timeout=10)) == LIMIT
        websocket.send(_frames(LIMIT + 1))
        assert _closed_by_gateway(websocket) == TOO_BIG
    disconnected = fixture_gateway.record(f"disconnect-{connection_id}")
    assert disconnected["requestContext"]["disconnectStatusCode"] == 1009
    assert disconnected["requestContext"]["disconnectReason"] == TOO_BIG[1]


def test_a_single_frame_of_32_kb_passes_and_one_byte_more_closes_with_1009(
    fixture_gateway: GatewayProcess,
) -> None:
    with connect(fixture_gateway.url, max_size=None) as websocket:
        websocket.send("x" * FRAME)
        assert len(websocket.recv(timeout=10)) == FRAME
        websocket.send("x" * (FRAME + 1))  # one frame: a browser never fragments
        assert _closed_by_gateway(websocket) == TOO_BIG


def test_a_binary_frame_closes_with_1003(fixture_gateway: GatewayProcess) -> None:
    with connect(fixture_gateway.url) as websocket:
        websocket.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003


# ---------------------------------------------------------------- $disconnect


def test_disconnect_runs_on_client_close_with_its_code_and_reason(
    fixture_gateway: GatewayProcess,
) -> None:
    with connect(fixture_gateway.url) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        websocket.close(4001, "bye")
    event = fixture_gateway.record(f"disconnect-{connection_id}")
    context = event["requestContext"]
    assert context["routeKey"] == "$disconnect"
    assert context["eventType"] == "DISCONNECT"
    assert context["disconnectStatusCode"] == 4001
    assert context["disconnectReason"] == "bye"
    assert context["connectionId"] == connection_id
    assert "Host" in event["headers"]
    assert event["multiValueHeaders"]["Host"] == [event["headers"]["Host"]]


def test_delete_closes_the_socket_and_runs_disconnect(fixture_gateway: GatewayProcess) -> None:
    management = fixture_gateway.management()
    with connect(fixture_gateway.url) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        answer = management.delete_connection(ConnectionId=connection_id)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000
    context = fixture_gateway.record(f"disconnect-{connection_id}")["requestContext"]
    assert context["disconnectStatusCode"] == 1000
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")


# ---------------------------------------------------------------- the Management API


@pytest.mark.parametrize("stage", [pytest.param(None, id="root"), pytest.param("test", id="stage")])
def test_management_post_and_get(fixture_gateway: GatewayProcess, stage: str | None) -> None:
    management = fixture_gateway.management(stage)
    with connect(fixture_gateway.url, user_agent_header="e2e-get/2.0") as websocket:
        before = datetime.datetime.now(datetime.UTC)
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"hello": "world"}')
        assert websocket.recv(timeout=10) == '{"hello": "world"}'
        described = management.get_connection(ConnectionId=connection_id)
    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "e2e-get/2.0"}
    connected_at = described["ConnectedAt"]
    last_active_at = described["LastActiveAt"]
    assert isinstance(connected_at, datetime.datetime)
    assert connected_at <= last_active_at
    assert abs((last_active_at - before).total_seconds()) < 5


@pytest.mark.parametrize(
    "call",
    [
        pytest.param("post", id="post"),
        pytest.param("get", id="get"),
        pytest.param("delete", id="delete"),
    ],
)
def test_management_answers_410_gone_for_an_unknown_id(
    fixture_gateway: GatewayProcess, call: str
) -> None:
    management = fixture_gateway.management()
    operations = {
        "post": lambda: management.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x"),
        "get": lambda: management.get_connection(ConnectionId="AAAAAAAAAAAAAAA="),
        "delete": lambda: management.delete_connection(ConnectionId="AAAAAAAAAAAAAAA="),
    }
    with pytest.raises(management.exceptions.GoneException) as gone:
        operations[call]()
    error = gone.value.response
    assert error["Error"]["Code"] == "GoneException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_management_refuses_a_post_over_128_kb_with_413(fixture_gateway: GatewayProcess) -> None:
    management = fixture_gateway.management()
    with connect(fixture_gateway.url) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        with pytest.raises(management.exceptions.PayloadTooLargeException):
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (LIMIT + 1))
        management.post_to_connection(ConnectionId=connection_id, Data=b"y" * LIMIT)
        assert websocket.recv(timeout=10) == "y" * LIMIT


def test_gone_is_a_client_error_botocore_can_name(fixture_gateway: GatewayProcess) -> None:
    status, headers, body = http(
        f"{fixture_gateway.http_url}/@connections/AAAAAAAAAAAAAAA%3D", "POST", b"x"
    )
    assert status == 410
    assert headers["x-amzn-ErrorType"] == "GoneException"
    assert json.loads(body) == {"message": None}
    assert issubclass(fixture_gateway.management().exceptions.GoneException, ClientError)


# ---------------------------------------------------------------- HTTP API and development pages


def test_an_http_api_route_gets_a_payload_2_event(fixture_gateway: GatewayProcess) -> None:
    status, headers, body = http(
        f"{fixture_gateway.http_url}/users/u-42/messages",
        "POST",
        b'{"text": "hi"}',
        {"Authorization": "Bearer abc", "Content-Type": "application/json"},
    )
    assert status == 202
    assert headers["x-greeting"] == "hello from us-east-1"
    assert json.loads(body) == {
        "userId": "u-42",
        "routeKey": "POST /users/{userId}/messages",
        "method": "POST",
        "body": '{"text": "hi"}',
        "authorization": "Bearer abc",
    }
    assert http(f"{fixture_gateway.http_url}/users/u-42/messages", "GET")[0] == 404
    assert http(f"{fixture_gateway.http_url}/nothing/here")[0] == 404


def test_dev_token_and_static_files(fixture_gateway: GatewayProcess) -> None:
    base = fixture_gateway.http_url
    status, _, body = http(f"{base}/dev/token?user=alice&channels=room:*,lobby")
    assert status == 200
    claims = jwt.decode(json.loads(body)["token"], DEFAULT_WS_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["channels"] == ["room:*", "lobby"]
    assert 25 <= claims["exp"] - time.time() <= 31
    assert http(f"{base}/dev/token")[0] == 400

    status, headers, body = http(f"{base}/")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    status, headers, body = http(f"{base}/client/switchboard.js")
    assert (status, headers["Content-Type"], body) == (
        200,
        "text/javascript; charset=utf-8",
        b"export {};\n",
    )
    status, headers, body = http(f"{base}/demo.js")
    assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    assert http(f"{base}/client/../../demo/index.html")[0] == 404
    assert http(f"{base}/..%2F..%2Fetc%2Fpasswd")[0] == 404
    assert http(f"{base}/client/missing.js")[0] == 404
