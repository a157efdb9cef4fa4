"""Lambda proxy answers as API Gateway reads them (:mod:`local_gateway.proxy`)."""

from __future__ import annotations

from typing import Any

import pytest

from local_gateway.proxy import http_api_response, websocket_result


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(None, (200, {}, ""), id="nothing"),
        pytest.param({"statusCode": 401, "body": "no"}, (401, {}, "no"), id="refused"),
        pytest.param(
            {"headers": {"Sec-WebSocket-Protocol": "switchboard"}},
            (200, {"sec-websocket-protocol": "switchboard"}, ""),
            id="subprotocol",
        ),
        pytest.param(
            {"multiValueHeaders": {"X-A": ["1", "2"]}, "body": {"not": "a string"}},
            (200, {"x-a": "1, 2"}, ""),
            id="multi-value-headers-and-a-body-that-is-not-text",
        ),
    ],
)
def test_a_websocket_routes_answer(result: Any, expected: tuple[int, dict[str, str], str]) -> None:
    assert websocket_result(result) == expected


@pytest.mark.parametrize(
    ("result", "status", "headers", "body"),
    [
        pytest.param(
            {"ok": True},
            200,
            [("Content-Type", "application/json")],
            b'{"ok": true}',
            id="inferred-from-an-object",
        ),
        pytest.param(
            "plain", 200, [("Content-Type", "application/json")], b"plain", id="inferred-text"
        ),
        pytest.param(
            {"statusCode": 201, "body": "aGk=", "isBase64Encoded": True, "cookies": ["a=1"]},
            201,
            [("Set-Cookie", "a=1"), ("Content-Type", "application/json")],
            b"hi",
            id="base64-and-cookies",
        ),
        pytest.param(
            {"statusCode": 204, "headers": {"Content-Type": "text/plain"}},
            204,
            [("content-type", "text/plain")],
            b"",
            id="its-own-content-type",
        ),
    ],
)
def test_an_http_api_answer_in_payload_format_2(
    result: Any, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    response = http_api_response(result)
    assert (response.status, response.headers, response.body) == (status, headers, body)
