"""Switchboard's errors, each carrying what a client needs to know.

* :exc:`SwitchboardError`
    * :exc:`ConfigurationError` - the deployment is misconfigured (refused at start-up)
    * :exc:`AuthError` - ``$connect`` refuses the handshake
        * :exc:`UnauthorizedError` - 401: missing, malformed, badly signed or expired token
        * :exc:`ForbiddenOriginError` - 403: the Origin is not allowed
        * :exc:`TokenReplayedError` - 403: a single-use token (``jti``) seen before
    * :exc:`ProtocolError` - a frame gets an ``error`` reply with :attr:`code`
        * :exc:`BadRequestError` - ``bad_request``
        * :exc:`UnknownActionError` - ``unknown_action``
        * :exc:`UnknownMethodError` - ``unknown_method``: an ``rpc`` no hook answers
        * :exc:`ForbiddenError` - ``forbidden``
        * :exc:`PayloadTooLargeError` - ``payload_too_large``
        * :exc:`RateLimitedError` - ``rate_limited``
            * :exc:`ChannelBusyError` - a channel's next ``seq`` kept being taken first
    * :exc:`ConnectionGoneError` - the Management API answered 410 for a connection
    * :exc:`DeliveryError` - a post failed; :attr:`retryable` for throttling and 5xx

Every edge answers an error the same way: :func:`translate` walks the error's class
hierarchy (its MRO) through one table, :data:`STATUS_BY_ERROR`, to the HTTP status
(``$connect`` and the HTTP API) and the code (an ``error`` frame and the HTTP body). An
error the table does not name is a bug: ``internal``, 500, and a generic message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Refusal(StrEnum):
    """Why ``$connect`` refused a handshake: the ``reason`` dimension of the ``Refused``
    metric, a handful of values so that the dashboard can list every one."""

    MISSING_TOKEN = "missing_token"  # noqa: S105 (a reason, not a secret)
    EXPIRED = "expired"
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    ORIGIN = "origin"
    REPLAYED = "replayed"
    MISCONFIGURED = "misconfigured"
    HOOK = "hook"  # on_connect refused with Reject (its status)
    HOOK_FAILED = "hook_failed"  # on_connect failed: 500 (counted in HookErrors too)


class SwitchboardError(Exception):
    """Base class of every error Switchboard raises on purpose."""


class ConfigurationError(SwitchboardError):
    """The deployment's settings cannot work; raised when the container starts."""

    refusal = Refusal.MISCONFIGURED


class AuthError(SwitchboardError):
    """``$connect`` refuses the handshake with :attr:`status`."""

    code = "unauthorized"
    refusal = Refusal.INVALID_TOKEN

    def __init__(self, reason: str, *, refusal: Refusal | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if refusal is not None:
            self.refusal = refusal

    @property
    def message(self) -> str:
        """What the client is told (the refusal's reason)."""
        return self.reason

    @property
    def status(self) -> int:
        """The handshake's (or the HTTP API's) status, from :data:`STATUS_BY_ERROR`."""
        return translate(self).status


class UnauthorizedError(AuthError):
    """The token is missing, malformed, badly signed, expired or not yet valid."""


class ForbiddenOriginError(AuthError):
    """The request's Origin is not in the allowlist."""

    refusal = Refusal.ORIGIN


class TokenReplayedError(AuthError):
    """A single-use token (with ``jti``) was presented a second time."""

    refusal = Refusal.REPLAYED


class ProtocolError(SwitchboardError):
    """A client frame is refused; the client gets ``{"type": "error", "code": code}``."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ProtocolError):
    """The frame is not JSON, not an object, or a field is missing or malformed."""

    code = "bad_request"


class UnknownActionError(ProtocolError):
    """The frame's ``action`` is not one the server knows."""

    code = "unknown_action"


class UnknownMethodError(ProtocolError):
    """An ``rpc`` frame names a method that no hook registered."""

    code = "unknown_method"


class ForbiddenError(ProtocolError):
    """The connection's token does not allow this channel."""

    code = "forbidden"


class PayloadTooLargeError(ProtocolError):
    """The message would not fit in one API Gateway frame (128 KB)."""

    code = "payload_too_large"


class ConflictError(ProtocolError):
    """A server-side publish whose ``Idempotency-Key`` is still running (HTTP 409)."""

    code = "conflict"


class RateLimitedError(ProtocolError):
    """The connection publishes faster than its limit."""

    code = "rate_limited"


class ChannelBusyError(RateLimitedError):
    """Concurrent publishes kept taking the channel's next ``seq`` first (try again)."""


class ConnectionGoneError(SwitchboardError):
    """The Management API answered 410: the connection no longer exists."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"connection {connection_id} is gone")
        self.connection_id = connection_id


class DeliveryError(SwitchboardError):
    """A post to a connection failed for another reason than 410."""

    def __init__(self, connection_id: str, code: str, *, retryable: bool) -> None:
        super().__init__(f"delivery to {connection_id} failed: {code}")
        self.connection_id = connection_id
        self.code = code
        self.retryable = retryable


# The one error table: the HTTP status of each error class, found along its MRO.
STATUS_BY_ERROR: dict[type[Exception], int] = {
    AuthError: 401,
    ForbiddenOriginError: 403,
    TokenReplayedError: 403,
    ProtocolError: 500,  # its code is "internal"
    BadRequestError: 400,
    UnknownActionError: 404,
    UnknownMethodError: 404,
    ForbiddenError: 403,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
}
INTERNAL_STATUS = 500


@dataclass(frozen=True)
class ErrorAnswer:
    """How an edge answers an error: ``message`` is ``None`` for a bug (the edge says
    something generic and logs the traceback), else what the client is told."""

    status: int
    code: str
    message: str | None

    @property
    def expected(self) -> bool:
        """Whether the error is the client's (an answer), not a bug (a traceback)."""
        return self.message is not None


def translate(exc: BaseException) -> ErrorAnswer:
    """The answer to ``exc``: the status of the nearest class in :data:`STATUS_BY_ERROR`
    along its MRO, its ``code`` and ``message``; ``internal`` (500) for any other error."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            assert isinstance(exc, ProtocolError | AuthError)
            return ErrorAnswer(status, exc.code, exc.message)
    return ErrorAnswer(INTERNAL_STATUS, "internal", None)
