"""The handlers' event views answer what Powertools' event source data classes answer.

``switchboard.lambda_events`` replaces Powertools' ``APIGatewayWebSocketEvent``,
``APIGatewayProxyEventV2`` and ``SQSRecord`` on the handlers' cold path (their package
imports every event type Powertools knows; docs/benchmarks.md, B3). Powertools' classes are
the oracle here: every property the views define, on the sample events of ``events/``,
AWS's SAM CLI HTTP API event, the local gateway's events and generated ones, has the value
(or raises the error) Powertools' class of the same event gives.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEventV2,
    APIGatewayWebSocketEvent,
    SQSRecord,
)
from aws_lambda_powertools.utilities.data_classes.api_gateway_websocket_event import (
    APIGatewayWebSocketEventIdentity,
    APIGatewayWebSocketEventRequestContext,
)
from hypothesis import given
from hypothesis import strategies as st

from local_gateway import events as gateway_events
from local_gateway.sqs import sqs_event
from switchboard.lambda_events import (
    CaseInsensitiveDict,
    HttpApiEvent,
    SqsRecord,
    WebSocketEvent,
    WebSocketIdentity,
    WebSocketRequestContext,
)
from tests.conftest import EVENTS, load_event
from tests.integration.test_aws_events import sam_cli_http_event

WEBSOCKET_PROPERTIES = [
    "request_context.connection_id",
    "request_context.connected_at",
    "request_context.route_key",
    "request_context.event_type",
    "request_context.api_id",
    "request_context.stage",
    "request_context.domain_name",
    "request_context.disconnect_status_code",
    "request_context.disconnect_reason",
    "request_context.identity.source_ip",
    "request_context.identity.user_agent",
    "is_base64_encoded",
    "body",
    "headers",
    "query_string_parameters",
    "multi_value_query_string_parameters",
]
HTTP_PROPERTIES = [
    "route_key",
    "headers",
    "query_string_parameters",
    "path_parameters",
    "is_base64_encoded",
    "body",
]
SQS_PROPERTIES = ["body", "message_id"]
LOOKUPS = ("headers", "query_string_parameters", "multi_value_query_string_parameters")


def _read(view: Any, path: str) -> tuple[str, Any]:
    """``("ok", value)`` or ``("raises", ExceptionType)`` for one dotted property."""
    try:
        value = view
        for name in path.split("."):
            value = getattr(value, name)
    except Exception as exc:  # the same error as Powertools', not a different one
        return "raises", type(exc)
    return "ok", value


def _keys_to_probe(mapping: Any) -> set[str]:
    keys = {str(k) for k in mapping} if isinstance(mapping, dict) else set()
    return keys | {k.upper() for k in keys} | {k.title() for k in keys} | {"Absent-Key"}


def assert_same(ours: Any, theirs: Any, properties: list[str]) -> None:
    for path in properties:
        mine, expected = _read(ours, path), _read(theirs, path)
        assert mine == expected, path
        if path in LOOKUPS and mine[0] == "ok":
            mapping, reference = mine[1], expected[1]
            assert type(reference).__name__ == type(mapping).__name__  # case-insensitive or not
            for key in _keys_to_probe(reference):  # lookups in any case, as Powertools'
                assert mapping.get(key) == reference.get(key), (path, key)
                assert (key in mapping) == (key in reference), (path, key)
                if key in reference:
                    assert mapping[key] == reference[key], (path, key)


def _websocket_samples() -> list[str]:
    return sorted(p.stem for p in EVENTS.glob("*.json") if not _is_http(p.stem))


def _is_http(name: str) -> bool:
    return "routeKey" in load_event(name) and "rawPath" in load_event(name)


@pytest.mark.parametrize("name", _websocket_samples())
def test_each_websocket_sample_event_reads_as_powertools_reads_it(name: str) -> None:
    event = load_event(name)
    assert_same(WebSocketEvent(event), APIGatewayWebSocketEvent(event), WEBSOCKET_PROPERTIES)


@pytest.mark.parametrize("name", sorted(p.stem for p in EVENTS.glob("*.json") if _is_http(p.stem)))
def test_each_http_sample_event_reads_as_powertools_reads_it(name: str) -> None:
    event = load_event(name)
    assert_same(HttpApiEvent(event), APIGatewayProxyEventV2(event), HTTP_PROPERTIES)


def test_the_sample_events_hold_both_kinds() -> None:
    assert len(_websocket_samples()) >= 8
    assert any(_is_http(p.stem) for p in EVENTS.glob("*.json"))


@pytest.mark.parametrize("body", [b'{"channel":"room:a"}', b"", b"\xff\xfe"])
def test_sam_clis_http_api_event_reads_as_powertools_reads_it(body: bytes) -> None:
    event = sam_cli_http_event("POST", "/publish", body)
    assert_same(HttpApiEvent(event), APIGatewayProxyEventV2(event), HTTP_PROPERTIES)


header_names = st.sampled_from(
    ["Host", "Origin", "origin", "ORIGIN", "Sec-WebSocket-Protocol", "X-A", "x-a", "Cookie"]
)
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
query_keys = st.sampled_from(["token", "Token", "TOKEN", "since", "x", "X", "a b", "ü"])


@st.composite
def connection_infos(draw: st.DrawFn) -> gateway_events.ConnectionInfo:
    query = "&".join(
        f"{k}={v}"
        for k, v in draw(st.lists(st.tuples(query_keys, st.sampled_from(["1", "", "a%20b"]))))
    )
    return gateway_events.ConnectionInfo(
        connection_id="LOCAL0000000001=",
        api_id="local0wsapi",
        stage=draw(st.sampled_from(["dev", "prod", "$default"])),
        domain_name="localhost:3001",
        source_ip="127.0.0.1",
        user_agent=draw(st.none() | texts),
        connected_at=draw(st.integers(0, 2**42)),
        last_active_at=0,
        headers=draw(st.lists(st.tuples(header_names, texts), max_size=6)),
        query=query,
    )


@given(info=connection_infos(), frame=texts, code=st.integers(1000, 4999), reason=texts)
def test_the_local_gateways_websocket_events_read_as_powertools_reads_them(
    info: gateway_events.ConnectionInfo, frame: str, code: int, reason: str
) -> None:
    for event in (
        gateway_events.connect_event(info),
        gateway_events.message_event(info, "$default", frame),
        gateway_events.disconnect_event(info, code, reason),
    ):
        assert_same(WebSocketEvent(event), APIGatewayWebSocketEvent(event), WEBSOCKET_PROPERTIES)


@given(
    headers=st.dictionaries(header_names, texts, max_size=5),
    query=st.none() | st.dictionaries(query_keys, texts, max_size=3),
    path=st.none() | st.dictionaries(st.sampled_from(["userId", "channel"]), texts, max_size=2),
    body=st.none() | texts,
    b64=st.none() | st.booleans(),
)
def test_generated_http_api_events_read_as_powertools_reads_them(
    headers: dict[str, str],
    query: dict[str, str] | None,
    path: dict[str, str] | None,
    body: str | None,
    b64: bool | None,
) -> None:
    event: dict[str, Any] = {"routeKey": "POST /publish", "headers": headers}
    for key, value in (
        ("queryStringParameters", query),
        ("pathParameters", path),
        ("body", base64.b64encode(body.encode()).decode() if b64 and body else body),
        ("isBase64Encoded", b64),
    ):
        if value is not None:
            event[key] = value
    assert_same(HttpApiEvent(event), APIGatewayProxyEventV2(event), HTTP_PROPERTIES)


def test_an_sqs_record_reads_as_powertools_reads_it() -> None:
    message = {
        "MessageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "ReceiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "Body": json.dumps({"connections": ["A=", "B="]}),
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
        "MD5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
    }
    arn = "arn:aws:sqs:us-east-1:123456789012:fanout"
    [record] = sqs_event([message], arn)["Records"]
    assert_same(SqsRecord(record), SQSRecord(record), SQS_PROPERTIES)


def test_the_views_define_no_property_powertools_lacks() -> None:
    """Each view's names are Powertools' names: code written against one reads the other."""
    pairs = [
        (WebSocketEvent, APIGatewayWebSocketEvent),
        (WebSocketRequestContext, APIGatewayWebSocketEventRequestContext),
        (WebSocketIdentity, APIGatewayWebSocketEventIdentity),
        (HttpApiEvent, APIGatewayProxyEventV2),
        (SqsRecord, SQSRecord),
    ]
    for ours, theirs in pairs:
        inherited = {n for cls in ours.__mro__[:-1] for n in vars(cls) if not n.startswith("_")}
        names = inherited - {"raw"}  # the event dict itself (Powertools: raw_event)
        assert names
        assert names <= set(dir(theirs)), names - set(dir(theirs))


def test_case_insensitive_dict_stores_lowercased_keys_and_looks_up_in_any_case() -> None:
    headers = CaseInsensitiveDict({"Origin": "https://app.example", "X-A": "1"})
    assert list(headers) == ["origin", "x-a"]
    assert headers["ORIGIN"] == headers.get("origin") == "https://app.example"
    assert "x-A" in headers
    assert 1 not in headers
    assert "absent" not in headers
    assert headers.get("absent", "default") == "default"
    assert CaseInsensitiveDict(None) == {} == CaseInsensitiveDict()
