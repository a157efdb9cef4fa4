"""The sender: the interface to the API Gateway Management API, and its boto3 implementation.

Owns :class:`ManagementApi`, what the library needs of the Management API (post a frame,
close a connection, optionally many posts in flight on one thread); the one table that
turns an answer's HTTP status and error code into a domain error (:func:`delivery_failure`);
the endpoint of an API's stage; and :class:`Boto3Sender`, the reference implementation
(``DELIVERY_ENGINE=boto3``). The default implementation is
:class:`switchboard.delivery.DeliveryEngine`; the two share no code but this module's table.

One boto3 ``apigatewaymanagementapi`` client per endpoint and container, created
on first use. The endpoint is built from the event's ``apiId``, region and stage
(so custom domains work), unless ``MANAGEMENT_ENDPOINT`` overrides it (the local
gateway). botocore's own retries are off: :mod:`switchboard.fanout` retries
throttling with backoff and full jitter, and counts what it could not deliver.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from switchboard.errors import ConnectionGoneError, DeliveryError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

    from switchboard.fanout import PostMany

RETRYABLE_CODES = frozenset(
    {"LimitExceededException", "TooManyRequestsException", "ThrottlingException"}
)
# The error code of an answer that names none (the engine reads ``x-amzn-ErrorType``).
CODES_BY_STATUS = {
    403: "ForbiddenException",
    410: "GoneException",
    413: "PayloadTooLargeException",
    429: "LimitExceededException",
}


def delivery_failure(connection_id: str, status: int, code: str | None) -> Exception:
    """What a failed Management API answer means: 410 :exc:`ConnectionGoneError`; else a
    :exc:`DeliveryError` with its code, retryable for throttling (429) and 5xx."""
    if status == 410 or code == "GoneException":
        return ConnectionGoneError(connection_id)
    code = code or CODES_BY_STATUS.get(status, str(status))
    retryable = code in RETRYABLE_CODES or status == 429 or status >= 500
    return DeliveryError(connection_id, code, retryable=retryable)


class ManagementApi(Protocol):
    """Posts frames to connections and closes them, raising domain errors.

    Implemented by :class:`Boto3Sender` and :class:`switchboard.delivery.DeliveryEngine`.
    """

    def post(self, connection_id: str, data: bytes) -> None:
        """Send one frame; raises :exc:`ConnectionGoneError` or :exc:`DeliveryError`."""
        ...

    def close(self, connection_id: str) -> None:
        """Close a connection from the server side (harmless if already gone)."""
        ...

    def posts_in_flight(self) -> PostMany | None:
        """How to keep many posts in flight on one thread, or ``None``: the fan-out then
        runs posts on worker threads."""
        ...


# The DNS suffix of each AWS partition by its regions' prefix (botocore's endpoints.json,
# checked against it in tests/unit/switchboard/test_sender.py); every other region is in a partition
# under amazonaws.com (aws, aws-us-gov).
_DNS_SUFFIXES = (
    ("cn-", "amazonaws.com.cn"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("eusc-", "amazonaws.eu"),
)


def dns_suffix(region: str) -> str:
    """The DNS suffix of ``region``'s partition (``amazonaws.com.cn`` in China, ...)."""
    for prefix, suffix in _DNS_SUFFIXES:
        if region.startswith(prefix):
            return suffix
    return "amazonaws.com"


def management_endpoint(override: str | None, api_id: str, region: str, stage: str) -> str:
    """The Management API base URL for this API's stage."""
    if override:
        return override.rstrip("/")
    return f"https://{api_id}.execute-api.{region}.{dns_suffix(region)}/{stage}"


@cache
def _client(endpoint: str, region: str, pool_size: int) -> ApiGatewayManagementApiClient:
    import boto3  # only when this path is chosen (DELIVERY_ENGINE=boto3)

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=pool_size,
        connect_timeout=3,
        read_timeout=5,
        tcp_keepalive=True,
    )
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name=region, config=config
    )


class Boto3Sender:
    """A :class:`ManagementApi` through boto3's client (the reference path)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def for_endpoint(cls, endpoint: str, region: str, pool_size: int = 32) -> Boto3Sender:
        """The container's sender for ``endpoint`` (its client is created once)."""
        return cls(_client(endpoint, region, pool_size))

    def post(self, connection_id: str, data: bytes) -> None:
        """Send one frame; raises :exc:`ConnectionGoneError` or :exc:`DeliveryError`."""
        client = self._client
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            raise ConnectionGoneError(connection_id) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise delivery_failure(connection_id, status, code) from None
        except BotoCoreError as exc:
            raise DeliveryError(connection_id, type(exc).__name__, retryable=True) from None

    def close(self, connection_id: str) -> None:
        """Close a connection from the server side (harmless if already gone)."""
        client = self._client
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            return

    def posts_in_flight(self) -> PostMany | None:
        """None: boto3's client posts one at a time, so the fan-out uses threads."""
        return None


# The boto3 sender's former name (bench/ still imports it).
Sender = Boto3Sender


def clear_clients() -> None:
    """Forget the cached clients (tests)."""
    _client.cache_clear()
