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
        * :exc:`ForbiddenError` - ``forbidden``
        * :exc:`PayloadTooLargeError` - ``payload_too_large``
        * :exc:`RateLimitedError` - ``rate_limited``
            * :exc:`ChannelBusyError` - a channel's next ``seq`` kept being taken first
    * :exc:`ConnectionGoneError` - the Management API answered 410 for a connection
    * :exc:`DeliveryError` - a post failed; :attr:`retryable` for throttling and 5xx
"""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base class of every error Switchboard raises on purpose."""


class ConfigurationError(SwitchboardError):
    """The deployment's settings cannot work; raised when the container starts."""


class AuthError(SwitchboardError):
    """``$connect`` refuses the handshake with :attr:`status`."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnauthorizedError(AuthError):
    """The token is missing, malformed, badly signed, expired or not yet valid."""

    status = 401


class ForbiddenOriginError(AuthError):
    """The request's Origin is not in the allowlist."""

    status = 403


class TokenReplayedError(AuthError):
    """A single-use token (with ``jti``) was presented a second time."""

    status = 403


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
