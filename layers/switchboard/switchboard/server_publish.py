"""Server-side publish: the HTTP API the app's own backend calls.

``POST /publish`` takes ``{"channel", "data"}``, ``{"channels": [...], "data"}`` (the
same data to many channels) or ``{"messages": [{"channel", "data"}, ...]}``;
``POST /users/{userId}/messages`` takes ``{"data"}`` and sends a ``direct`` frame to
every connection of the user. Callers authenticate with ``Authorization: Bearer
<JWT>`` signed like browser tokens and carrying ``"scope": "publish"``; an
``Idempotency-Key`` header makes a retried request publish once and answer with the
original result (Powertools idempotency, kept 24 hours).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard import protocol
from switchboard.auth import Identity, TokenVerifier
from switchboard.channels import check_allowed, validate_channel
from switchboard.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    PayloadTooLargeError,
    UnauthorizedError,
)
from switchboard.realtime import HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX, Realtime

PUBLISH_SCOPE = "publish"
MAX_BATCH = 100
MAX_BODY_BYTES = 1024 * 1024
IDEMPOTENCY_SECONDS = 24 * 60 * 60
MAX_IDEMPOTENCY_KEY = 256


def _has_scope(claim: Any) -> bool:
    if isinstance(claim, str):
        return PUBLISH_SCOPE in claim.split()
    if isinstance(claim, list):
        return PUBLISH_SCOPE in claim
    return False


@dataclass(frozen=True)
class Caller:
    """A verified server credential."""

    identity: Identity
    name: str


def authorize(headers: Mapping[str, str], verifier: TokenVerifier) -> Caller:
    """Check ``Authorization: Bearer <JWT>``: 401 without a valid one, 403 without the scope."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing bearer token")
    identity, claims = verifier.verify_with_claims(token.strip())
    if not _has_scope(claims.get("scope")):
        raise ForbiddenError("this token may not publish (it needs scope 'publish')")
    return Caller(identity=identity, name=identity.user_id)


def request_body(body: str | None, base64_encoded: bool) -> bytes:
    """The request body's bytes, as the client sent them (HTTP API base64-encodes
    bodies that are not UTF-8 text)."""
    if not body:
        return b""
    if base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise BadRequestError("the body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def parse_json_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object: at most 1 MB (``payload_too_large``, 413),
    UTF-8 strict JSON (``bad_request``, 400), as frames are parsed."""
    if not body:
        raise BadRequestError("the body must be a JSON object")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body is over {MAX_BODY_BYTES} bytes")
    value = protocol.parse_json(body, "body")
    if not isinstance(value, dict):
        raise BadRequestError("the body must be a JSON object")
    return value


def publish_items(request: Mapping[str, Any]) -> tuple[list[tuple[str, Any]], bool]:
    """The ``(channel, data)`` pairs a publish request asks for, and whether it is a batch."""
    if "messages" in request:
        messages = request["messages"]
        if not isinstance(messages, list) or not messages:
            raise BadRequestError("'messages' must be a non-empty list")
        items = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or "data" not in message:
                raise BadRequestError(f"messages[{index}] needs 'channel' and 'data'")
            items.append((validate_channel(message.get("channel")), message["data"]))
        batch = True
    elif "channels" in request:
        channels = request["channels"]
        if not isinstance(channels, list) or not channels:
            raise BadRequestError("'channels' must be a non-empty list")
        if "data" not in request:
            raise BadRequestError("'data' is required")
        items = [(validate_channel(channel), request["data"]) for channel in channels]
        batch = True
    else:
        if "data" not in request:
            raise BadRequestError("'data' is required")
        items = [(validate_channel(request.get("channel")), request["data"])]
        batch = False
    if len(items) > MAX_BATCH:
        raise BadRequestError(f"at most {MAX_BATCH} messages per request")
    return items, batch


def run_publish(realtime: Realtime, caller: Caller, request: Mapping[str, Any]) -> dict[str, Any]:
    """Publish every message of the request; the answer lists each one's seq and delivery."""
    items, batch = publish_items(request)
    for channel, data in items:  # all or nothing: refuse before the first is published
        check_allowed(channel, caller.identity.capabilities)
        protocol.check_message_size(channel, data, caller.name)
    results = [realtime.publish(channel, data, caller.name).as_dict() for channel, data in items]
    return {"results": results} if batch else results[0]


def run_user_message(
    realtime: Realtime, caller: Caller, user_id: str, request: Mapping[str, Any]
) -> dict[str, Any]:
    """Send ``data`` to every connection of ``user_id``."""
    if not user_id or len(user_id) > 256:
        raise BadRequestError("the user id must be 1 to 256 characters")
    if "data" not in request:
        raise BadRequestError("'data' is required")
    report = realtime.send_to_user(user_id, request["data"], caller.name)
    return {"user": user_id, **report.as_dict()}


def _query_int(query: Mapping[str, str], name: str, maximum: int | None = None) -> int | None:
    raw = query.get(name)
    value = int(raw) if raw is not None and raw.isdigit() and len(raw) <= 16 else raw
    return protocol.optional_count(value, name, maximum)


def read_history(
    realtime: Realtime, caller: Caller, channel: str, query: Mapping[str, str]
) -> dict[str, Any]:
    """``GET /channels/{channel}/history``: a page of kept messages, or (``limit=0``) the
    channel's position, for a server-rendered page to hand its client ``since``/``epoch``."""
    channel = validate_channel(channel)
    check_allowed(channel, caller.identity.capabilities)
    limit = _query_int(query, "limit", maximum=HISTORY_PAGE_MAX)
    before = _query_int(query, "before")
    return realtime.history(channel, HISTORY_PAGE_DEFAULT if limit is None else limit, before)


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The ``Idempotency-Key`` header, if any (validated)."""
    key = headers.get("idempotency-key") or headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise BadRequestError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


Operation = Callable[[], dict[str, Any]]


class IdempotentRunner:
    """Runs an operation at most once per idempotency key (Powertools idempotency).

    The same key with a different request is refused (``bad_request``); a retry
    with the same request gets the first answer back, ``seq`` included.
    """

    def __init__(self, table_name: str, dynamodb_endpoint: str | None, region: str) -> None:
        import boto3
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            boto3_client=boto3.client(
                "dynamodb", endpoint_url=dynamodb_endpoint, region_name=region
            ),
        )
        self.config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="request",
            expires_after_seconds=IDEMPOTENCY_SECONDS,
        )
        self._pending: dict[str, Operation] = {}

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="operation", persistence_store=persistence, config=self.config
        )
        def run(operation: dict[str, Any]) -> dict[str, Any]:
            return self._pending[operation["key"]]()

        self._run = run

    def register(self, context: Any) -> None:
        """Let Powertools know the invocation's remaining time."""
        self.config.register_lambda_context(context)

    def __call__(self, operation: dict[str, Any], action: Operation) -> dict[str, Any]:
        """Run ``action`` unless ``operation["key"]`` ran before; then answer as it did."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        self._pending[operation["key"]] = action
        try:
            result: dict[str, Any] = self._run(operation=operation)
        except IdempotencyValidationError:
            raise BadRequestError(
                "this Idempotency-Key was used with a different request"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ConflictError(
                "a request with this Idempotency-Key is still running; retry shortly"
            ) from None
        finally:
            self._pending.pop(operation["key"], None)
        return result
