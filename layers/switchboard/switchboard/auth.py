"""Token and Origin checks for ``$connect``.

Tokens are short-lived JWTs minted by the app's own backend. They are verified with
pinned algorithms only: HS256 with a shared secret, or RS256/ES256 against a JWKS
URL. ``alg: none`` and algorithm confusion never pass. Tokens never reach a log line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import has_crypto

from switchboard.channels import parse_capabilities
from switchboard.config import MIN_SECRET_BYTES, Settings
from switchboard.errors import (
    ConfigurationError,
    ForbiddenOriginError,
    Refusal,
    UnauthorizedError,
)

SUBPROTOCOL = "switchboard"
MAX_TOKEN_LENGTH = 4096
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_USER_ID_MAX = 256
MAX_PRESENCE_BYTES = 1024


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and what it allows."""

    user_id: str
    capabilities: tuple[str, ...] | None
    expires_at: int
    jti: str | None = None
    presence: str | None = None  # the ``presence`` claim as JSON, shown to channel members


@dataclass(frozen=True)
class PresentedToken:
    """A token as found in the request, and whether to echo the subprotocol."""

    token: str | None
    echo_subprotocol: bool


def find_token(
    query: Mapping[str, str] | None, headers: Mapping[str, str] | None
) -> PresentedToken:
    """Find the token in ``?token=`` or in the subprotocol list ``switchboard, <token>``.

    When the client offers the ``switchboard`` subprotocol, the handshake must echo
    it (browsers drop a socket whose offered subprotocol is not answered).
    """
    offered: list[str] = []
    raw = (headers or {}).get("Sec-WebSocket-Protocol") or ""
    offered = [item.strip() for item in raw.split(",") if item.strip()]
    echo = SUBPROTOCOL in offered
    token = (query or {}).get("token") or None
    if token is None and echo:
        index = offered.index(SUBPROTOCOL)
        if index + 1 < len(offered):
            token = offered[index + 1]
    return PresentedToken(token=token, echo_subprotocol=echo)


def _origin_pattern(entry: str) -> re.Pattern[str]:
    # `*` stands for part of one DNS label: it never crosses a dot, a slash or a colon.
    parts = (re.escape(piece) for piece in entry.rstrip("/").split("*"))
    return re.compile("[A-Za-z0-9-]*".join(parts), re.IGNORECASE)


def check_origin(origin: str | None, allowed: Sequence[str]) -> None:
    """Raise 403 unless ``origin`` matches the allowlist (an empty list allows all).

    A request without an Origin header does not come from a browser page, so
    cross-site socket hijacking cannot apply; it still needs a valid token.
    """
    if not allowed or origin is None:
        return
    if not any(_origin_pattern(entry).fullmatch(origin) for entry in allowed):
        raise ForbiddenOriginError("origin not allowed")


class TokenVerifier:
    """Verifies tokens with pinned algorithms and returns an :class:`Identity`."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_seconds: int = 5,
    ) -> None:
        if secret is None and jwks_client is None:
            raise ConfigurationError("a token secret or a JWKS URL is required")
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the token secret must be at least {MIN_SECRET_BYTES} bytes long"
            )
        self._secret = secret
        self._jwks_client = jwks_client
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds

    def verify(self, token: str | None) -> Identity:
        """Return the token's identity, or raise :exc:`UnauthorizedError`."""
        return self.verify_with_claims(token)[0]

    def verify_with_claims(self, token: str | None) -> tuple[Identity, dict[str, Any]]:
        """Like :meth:`verify`, also returning every verified claim."""
        if not token:
            raise UnauthorizedError("missing token", refusal=Refusal.MISSING_TOKEN)
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthorizedError("token too long")
        if not _COMPACT_JWS.fullmatch(token):
            raise UnauthorizedError("token is not a compact JWS")
        key, algorithms = self._key_for(token)
        options: dict[str, Any] = {"require": ["exp"], "verify_aud": self._audience is not None}
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(algorithms),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("token expired", refusal=Refusal.EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise UnauthorizedError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise UnauthorizedError("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise UnauthorizedError("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise UnauthorizedError(f"missing claim '{exc.claim}'") from None
        except jwt.InvalidSignatureError:
            raise UnauthorizedError("bad signature") from None
        except jwt.PyJWTError:
            raise UnauthorizedError("invalid token") from None
        return self._identity(claims), claims

    def _key_for(self, token: str) -> tuple[Any, Sequence[str]]:
        if self._jwks_client is not None:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.PyJWTError:
                raise UnauthorizedError("invalid token header") from None
            if header.get("alg") not in JWKS_ALGORITHMS:
                raise UnauthorizedError("algorithm not allowed")
            try:
                return self._jwks_client.get_signing_key_from_jwt(token).key, JWKS_ALGORITHMS
            except jwt.PyJWKClientError:
                raise UnauthorizedError("no matching signing key") from None
        return self._secret, HMAC_ALGORITHMS

    @staticmethod
    def _identity(claims: Mapping[str, Any]) -> Identity:
        user_id = claims.get("sub") or claims.get("userId")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id or len(user_id) > _USER_ID_MAX:
            raise UnauthorizedError("token has no user ('sub' or 'userId')")
        try:
            capabilities = parse_capabilities(claims.get("channels"))
        except ValueError as exc:
            raise UnauthorizedError(str(exc)) from None
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not jti or len(jti) > 256):
            raise UnauthorizedError("'jti' must be a non-empty string")
        presence = None
        if claims.get("presence") is not None:
            presence = json.dumps(claims["presence"], separators=(",", ":"))
            if len(presence.encode()) > MAX_PRESENCE_BYTES:
                raise UnauthorizedError(f"'presence' is over {MAX_PRESENCE_BYTES} bytes")
        exp = claims["exp"]
        return Identity(
            user_id=user_id,
            capabilities=capabilities,
            expires_at=int(exp),
            jti=jti,
            presence=presence,
        )


class VerifierSource:
    """The container's token verifier: the JWKS client made once, the secret re-read.

    The secret comes through ``secret_loader`` (Powertools Parameters caches it), so
    a rotated secret takes effect without a redeploy.
    """

    def __init__(self, settings: Settings, secret_loader: Callable[[Settings], str | None]) -> None:
        self._settings = settings
        self._secret_loader = secret_loader
        self._jwks_client: jwt.PyJWKClient | None = None
        if settings.jwks_url:
            if not has_crypto:
                raise ConfigurationError(
                    "JWKS_URL is set but the cryptography package is missing: RS256/ES256"
                    " tokens need the crypto layer (template.yaml adds it when JwksUrl is set)"
                )
            self._jwks_client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)

    def get(self) -> TokenVerifier:
        """A verifier with the current secret (or the JWKS client)."""
        settings = self._settings
        secret = None if self._jwks_client else self._secret_loader(settings)
        return TokenVerifier(
            secret=secret,
            jwks_client=self._jwks_client,
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            leeway_seconds=settings.token_leeway_seconds,
        )
