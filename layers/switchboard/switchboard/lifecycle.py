"""The ``$connect`` handshake: Origin, token, single use, and the stored connection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from switchboard.auth import Identity, TokenVerifier, check_origin, find_token
from switchboard.config import Settings
from switchboard.errors import (
    AuthError,
    ConfigurationError,
    Refusal,
    TokenReplayedError,
    UnauthorizedError,
)
from switchboard.store import (
    CONNECTION_LIFETIME_SECONDS,
    TTL_MARGIN_SECONDS,
    ConnectionRecord,
    Store,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handshake:
    """What ``$connect`` sees of the upgrade request."""

    connection_id: str
    connected_at_ms: int
    headers: Mapping[str, str]
    query: Mapping[str, str]
    source_ip: str | None = None
    user_agent: str | None = None
    multi_query: Mapping[str, Sequence[str]] | None = None  # every ?token=, to count them


@dataclass(frozen=True)
class HandshakeResult:
    """The answer to ``$connect``: a status, headers, and who connected."""

    status: int
    headers: dict[str, str]
    reason: str
    identity: Identity | None = None
    refusal: Refusal | None = None  # why it was refused, for the ``Refused`` metric

    def as_response(self) -> dict[str, Any]:
        """The Lambda proxy response API Gateway expects."""
        response: dict[str, Any] = {"statusCode": self.status, "body": self.reason}
        if self.headers:
            response["headers"] = self.headers
        return response


_FAILED = HandshakeResult(status=500, headers={}, reason="Internal Server Error")


class Connector:
    """Verifies handshakes, stores connections, and cleans them up."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        verifier: Callable[[], TokenVerifier],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.verifier = verifier
        self.clock = clock

    def connect(self, handshake: Handshake) -> HandshakeResult:
        """Accept (200) or refuse (401/403) a handshake; never raises: a bug is a 500,
        logged once with its traceback."""
        try:
            return self._connect(handshake)
        except Exception:
            logger.exception("handshake failed")
            return _FAILED

    def _connect(self, handshake: Handshake) -> HandshakeResult:
        presented = find_token(handshake.query, handshake.headers, handshake.multi_query)
        headers = {"Sec-WebSocket-Protocol": "switchboard"} if presented.echo_subprotocol else {}
        try:
            check_origin(handshake.headers.get("Origin"), self.settings.allowed_origins)
            if presented.count > 1:
                raise UnauthorizedError("more than one token: send exactly one")
            identity = self.verifier().verify(presented.token)
            if identity.jti is not None and not self.store.spend_token(
                identity.jti, identity.expires_at + self.settings.token_leeway_seconds
            ):
                raise TokenReplayedError("token already used")
        except AuthError as exc:
            logger.info("handshake refused", extra={"status": exc.status, "reason": exc.reason})
            return HandshakeResult(
                status=exc.status, headers={}, reason=exc.reason, refusal=exc.refusal
            )
        except ConfigurationError as exc:
            # e.g. the secret in SSM or Secrets Manager is too short: every handshake fails
            # until it is fixed, so say exactly why (never the secret itself)
            logger.error("handshake failed: misconfigured", extra={"reason": str(exc)})
            return replace(_FAILED, refusal=Refusal.MISCONFIGURED)
        connected_at_s = handshake.connected_at_ms // 1000
        self.store.put_connection(
            ConnectionRecord(
                connection_id=handshake.connection_id,
                user_id=identity.user_id,
                capabilities=identity.capabilities,
                connected_at=handshake.connected_at_ms,
                expires_at=connected_at_s + CONNECTION_LIFETIME_SECONDS + TTL_MARGIN_SECONDS,
                source_ip=handshake.source_ip,
                user_agent=handshake.user_agent,
                presence=identity.presence,
            )
        )
        return HandshakeResult(status=200, headers=headers, reason="OK", identity=identity)
