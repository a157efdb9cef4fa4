"""Read-only views of the three Lambda events the handlers read: the WebSocket API's, the
HTTP API's (payload format 2.0) and one SQS record.

Each answers, for the fields the handlers read, what Powertools' event source data class of
the same name answers (``APIGatewayWebSocketEvent``, ``APIGatewayProxyEventV2``,
``SQSRecord``): the same property names, the same values, the same case-insensitive header
and query dictionaries. ``tests/unit/switchboard/test_lambda_events.py`` holds every
property to Powertools' class, on AWS's sample events and on generated ones.

Why not Powertools' classes themselves: importing any of them runs the package
``aws_lambda_powertools.utilities.data_classes``, whose ``__init__`` imports all of its ~40
event types (S3, Kafka, Cognito, Bedrock...). That was about 26 ms of a 260 ms handler cold
start, a tenth of the ``import boto3`` baseline (B3, docs/benchmarks.md); these views import
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = [
    "CaseInsensitiveDict",
    "HttpApiEvent",
    "SqsRecord",
    "WebSocketEvent",
    "WebSocketIdentity",
    "WebSocketRequestContext",
]

V = TypeVar("V")


class CaseInsensitiveDict(dict[str, V]):
    """A dict whose string keys are stored lowercased and looked up in any case, as
    Powertools' ``CaseInsensitiveDict`` (HTTP header names are case-insensitive)."""

    def __init__(self, data: Mapping[str, V] | Iterable[tuple[str, V]] | None = None) -> None:
        items = data.items() if isinstance(data, Mapping) else (data or ())
        super().__init__((key.lower(), value) for key, value in items)

    def __getitem__(self, key: str) -> V:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class _View:
    """One event (or part of one) as Lambda passed it; ``raw`` is that dict."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw


class WebSocketIdentity(_View):
    """``requestContext.identity`` of a WebSocket event."""

    @property
    def source_ip(self) -> str:
        return str(self.raw["sourceIp"])

    @property
    def user_agent(self) -> str | None:
        return self.raw.get("userAgent")


class WebSocketRequestContext(_View):
    """``requestContext`` of a WebSocket event."""

    @property
    def connection_id(self) -> str:
        return str(self.raw["connectionId"])

    @property
    def connected_at(self) -> int:
        return int(self.raw["connectedAt"])

    @property
    def route_key(self) -> str:
        return str(self.raw["routeKey"])

    @property
    def event_type(self) -> str:
        return str(self.raw["eventType"])

    @property
    def api_id(self) -> str:
        return str(self.raw["apiId"])

    @property
    def stage(self) -> str:
        return str(self.raw["stage"])

    @property
    def domain_name(self) -> str:
        return str(self.raw["domainName"])

    @property
    def disconnect_status_code(self) -> int | None:
        return self.raw.get("disconnectStatusCode")

    @property
    def disconnect_reason(self) -> str | None:
        return self.raw.get("disconnectReason")

    @property
    def identity(self) -> WebSocketIdentity:
        return WebSocketIdentity(self.raw["identity"])


class _ProxyEvent(_View):
    """What API Gateway's two proxy events share: the body as sent, and the headers."""

    @property
    def body(self) -> str | None:
        return self.raw.get("body")

    @property
    def headers(self) -> CaseInsensitiveDict[str]:
        return CaseInsensitiveDict(self.raw.get("headers"))


class WebSocketEvent(_ProxyEvent):
    """A WebSocket API event (``$connect``, a message route, ``$disconnect``)."""

    @property
    def request_context(self) -> WebSocketRequestContext:
        return WebSocketRequestContext(self.raw["requestContext"])

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self.raw["isBase64Encoded"])

    @property
    def query_string_parameters(self) -> CaseInsensitiveDict[str]:
        return CaseInsensitiveDict(self.raw.get("queryStringParameters"))

    @property
    def multi_value_query_string_parameters(self) -> CaseInsensitiveDict[list[str]]:
        return CaseInsensitiveDict(self.raw.get("multiValueQueryStringParameters"))


class HttpApiEvent(_ProxyEvent):
    """An HTTP API event, payload format 2.0."""

    @property
    def route_key(self) -> str:
        return str(self.raw["routeKey"])

    @property
    def query_string_parameters(self) -> dict[str, str]:
        return self.raw.get("queryStringParameters") or {}

    @property
    def path_parameters(self) -> dict[str, str]:
        return self.raw.get("pathParameters") or {}

    @property
    def is_base64_encoded(self) -> bool | None:
        return self.raw.get("isBase64Encoded")


class SqsRecord(_View):
    """One record of an SQS event."""

    @property
    def body(self) -> str:
        return str(self.raw["body"])

    @property
    def message_id(self) -> str:
        return str(self.raw["messageId"])
