"""The ``$connect`` handshake: Origin, token, single use, and the stored connection.

Owns the handshake's rules; a refusal's status comes from the error table
(:func:`switchboard.errors.translate`), as every edge's does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from switchboard.auth import Identity, TokenVerifier, check_origin, find_token
from switchboard.config import Settings
from switchboard.errors import (
    AuthError,
    ConfigurationError,
    Refusal,
    TokenReplayedError,
    UnauthorizedError,
    translate,
)
from switchboard.storage import (
    CONNECTION_LIFETIME_SECONDS,
    TTL_MARGIN_SECONDS,
    ConnectionRecord,
    Connections,
    SpentTokens,
    Subscriptions,
)

if TYPE_CHECKING:
    from switchboard.hook_points import HookPoints
    from switchboard.realtime import Realtime

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
    api_id: str | None = None  # the API and stage, for the hooks' ctx.publish
    stage: str | None = None


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


class _ConnectorStore(Connections, Subscriptions, SpentTokens, Protocol):
    """The storage roles a handshake uses."""


class Connector:
    """Verifies handshakes and stores the connections it accepts."""

    def __init__(
        self,
        *,
        store: _ConnectorStore,
        settings: Settings,
        verifier: Callable[[], TokenVerifier],
        clock: Callable[[], float] = time.time,
        hooks: HookPoints | None = None,
        realtime: Callable[[Handshake], Realtime] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.verifier = verifier
        self.clock = clock
        self.hooks = hooks  # None: no HOOKS_MODULE, nothing of the hooks runs
        self.realtime = realtime

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
            claims: dict[str, Any] | None = None
            if self.hooks is None:
                identity = self.verifier().verify(presented.token)
            else:
                identity, claims = self.verifier().verify_with_claims(presented.token)
            if any(name.startswith(self.settings.presence_prefix) for name in identity.subscribe):
                raise UnauthorizedError("'subscribe' cannot name a presence channel")
            if identity.jti is not None and not self.store.spend_token(
                identity.jti, identity.expires_at + self.settings.token_leeway_seconds
            ):
                raise TokenReplayedError("token already used")
        except (AuthError, ConfigurationError) as exc:
            answer = translate(exc)
            if answer.message is None:
                # e.g. the secret in SSM or Secrets Manager is too short: every handshake
                # fails until it is fixed, so say exactly why (never the secret itself)
                logger.error("handshake failed: misconfigured", extra={"reason": str(exc)})
                return replace(_FAILED, refusal=exc.refusal)
            logger.info(
                "handshake refused", extra={"status": answer.status, "reason": answer.message}
            )
            return HandshakeResult(
                status=answer.status, headers={}, reason=answer.message, refusal=exc.refusal
            )
        connected_at_s = handshake.connected_at_ms // 1000
        record = ConnectionRecord(
            connection_id=handshake.connection_id,
            user_id=identity.user_id,
            capabilities=identity.capabilities,
            connected_at=handshake.connected_at_ms,
            expires_at=connected_at_s + CONNECTION_LIFETIME_SECONDS + TTL_MARGIN_SECONDS,
            source_ip=handshake.source_ip,
            user_agent=handshake.user_agent,
            presence=identity.presence,
        )
        if self.hooks is not None:
            from switchboard.hook_points import HookFailedError, on_connect
            from switchboard.hooks import Reject

            try:
                record = on_connect(self.hooks, record, claims or {}, self._realtime(handshake))
            except Reject as exc:
                logger.info("handshake refused by on_connect", extra={"status": exc.status})
                return HandshakeResult(
                    status=exc.status, headers={}, reason=exc.message, refusal=Refusal.HOOK
                )
            except HookFailedError:  # logged with its traceback, counted in HookErrors
                return replace(_FAILED, refusal=Refusal.HOOK_FAILED)
        self.store.put_connection(record)
        for channel in identity.subscribe:  # the token's server-side subscriptions
            self.store.subscribe(record, channel)
        return HandshakeResult(status=200, headers=headers, reason="OK", identity=identity)

    def _realtime(self, handshake: Handshake) -> Callable[[], Realtime]:
        """The hooks' way to publish from ``$connect`` (built only if a hook publishes)."""

        def realtime() -> Realtime:
            if self.realtime is None:
                raise ConfigurationError("no Realtime for the hooks' ctx at $connect")
            return self.realtime(handshake)

        return realtime
