"""Token and Origin checks for ``$connect``.

Tokens are short-lived JWTs minted by the app's own backend. They are verified with
pinned algorithms only: HS256 with a shared secret, or RS256/ES256 against a JWKS
URL. ``alg: none`` and algorithm confusion never pass. Tokens never reach a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import jwt
from jwt.algorithms import has_crypto
from jwt.utils import base64url_decode

from switchboard import protocol
from switchboard.channels import parse_capabilities, parse_subscribe_claim
from switchboard.config import MIN_SECRET_BYTES, Settings
from switchboard.errors import (
    BadRequestError,
    ConfigurationError,
    ForbiddenOriginError,
    Refusal,
    UnauthorizedError,
)

logger = logging.getLogger(__name__)

SUBPROTOCOL = "switchboard"
MAX_TOKEN_LENGTH = 4096
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_USER_ID_MAX = 256
MAX_PRESENCE_BYTES = 1024
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
MAX_NUMERIC_DATE = 2**53  # JavaScript's largest exact integer


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and what it allows."""

    user_id: str
    capabilities: tuple[str, ...] | None
    expires_at: int
    jti: str | None = None
    presence: str | None = None  # the ``presence`` claim as JSON, shown to channel members
    subscribe: tuple[str, ...] = ()  # the ``subscribe`` claim: subscribed at ``$connect``


@dataclass(frozen=True)
class PresentedToken:
    """A token as found in the request, whether to echo the subprotocol, and how many
    tokens the request carried (exactly one is accepted)."""

    token: str | None
    echo_subprotocol: bool
    count: int = 1


def find_token(
    query: Mapping[str, str] | None,
    headers: Mapping[str, str] | None,
    multi_query: Mapping[str, Sequence[str]] | None = None,
) -> PresentedToken:
    """Find the token in ``?token=`` or in the subprotocol list ``switchboard, <token>``.

    When the client offers the ``switchboard`` subprotocol, the handshake must echo
    it (browsers drop a socket whose offered subprotocol is not answered). Every
    token is counted (``?token=`` repeated, or in the query and the subprotocol list
    too), so that a request with two is refused instead of one of them winning.
    """
    raw = (headers or {}).get("Sec-WebSocket-Protocol") or ""
    offered = [item.strip() for item in raw.split(",") if item.strip()]
    echo = SUBPROTOCOL in offered
    single = (query or {}).get("token") or None
    # API Gateway's single-valued map holds the last ?token=; the multi-valued one, each.
    queried = [value for value in (multi_query or {}).get("token") or [] if value]
    protocols = [
        offered[index + 1]
        for index, item in enumerate(offered[:-1])
        if item == SUBPROTOCOL and offered[index + 1] != SUBPROTOCOL
    ]
    in_query = max(len(queried), 1 if single else 0)
    token = single or (queried[-1] if queried else None) or (protocols[0] if protocols else None)
    return PresentedToken(token=token, echo_subprotocol=echo, count=in_query + len(protocols))


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
        header, payload = _strict_segments(token)
        _check_numeric_dates(payload)
        key, algorithms = self._key_for(token, header)
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
        except Exception as exc:  # PyJWT's and cryptography's other refusals of a token
            logger.info("token refused", extra={"error": type(exc).__name__})
            raise UnauthorizedError("invalid token") from None
        return self._identity(claims), claims

    def _key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, Sequence[str]]:
        if self._jwks_client is None:
            return self._secret, HMAC_ALGORITHMS
        algorithm = header.get("alg")
        if algorithm not in JWKS_ALGORITHMS:
            raise UnauthorizedError("algorithm not allowed")
        try:
            signing_key = self._jwks_client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError:
            raise UnauthorizedError("no matching signing key") from None
        except Exception as exc:  # a key in the set that PyJWT or cryptography cannot load
            logger.info("signing key refused", extra={"error": type(exc).__name__})
            raise UnauthorizedError("no usable signing key") from None
        if signing_key.algorithm_name != algorithm:
            # e.g. an ES256 token naming an RSA key: never let the library guess
            raise UnauthorizedError(
                f"the key's type ({signing_key.key_type}) does not match the token's"
                f" algorithm ({algorithm})"
            )
        return signing_key.key, (algorithm,)

    @staticmethod
    def _identity(claims: Mapping[str, Any]) -> Identity:
        user_id = claims.get("sub") or claims.get("userId")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not _storable(user_id, _USER_ID_MAX):
            raise UnauthorizedError(
                f"token has no user ('sub' or 'userId': 1 to {_USER_ID_MAX} characters)"
            )
        try:
            capabilities = parse_capabilities(claims.get("channels"))
            subscribe = parse_subscribe_claim(claims.get("subscribe"), capabilities)
        except ValueError as exc:
            raise UnauthorizedError(str(exc)) from None
        jti = claims.get("jti")
        if jti is not None and not _storable(jti, 256):
            raise UnauthorizedError("'jti' must be a string of 1 to 256 characters")
        presence = None
        if claims.get("presence") is not None:
            try:
                presence = protocol.encode(claims["presence"]).decode()
            except (TypeError, ValueError):  # not reachable through the strict parser
                raise UnauthorizedError("'presence' must be JSON") from None
            if len(presence.encode()) > MAX_PRESENCE_BYTES:
                raise UnauthorizedError(f"'presence' is over {MAX_PRESENCE_BYTES} bytes")
        exp = claims["exp"]
        return Identity(
            user_id=user_id,
            capabilities=capabilities,
            expires_at=int(exp),
            jti=jti,
            presence=presence,
            subscribe=subscribe,
        )


def _storable(value: Any, max_length: int) -> TypeGuard[str]:
    """A claim that can be a DynamoDB key and a log field: 1 to ``max_length`` characters
    of valid Unicode (no lone surrogate)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strict_segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token's header and payload, parsed as strictly as frames are (before PyJWT
    reads them), or 401: no NaN, no overflowing number, no lone surrogate, no deep
    nesting."""
    parsed = []
    for name, segment in zip(("header", "payload"), token.split(".")[:2], strict=True):
        try:
            raw = base64url_decode(segment)
        except ValueError:
            raise UnauthorizedError(f"the token {name} is not base64url") from None
        try:
            value = protocol.parse_json(raw, f"token {name}")
        except BadRequestError as exc:
            raise UnauthorizedError(exc.message) from None
        if not isinstance(value, dict):
            raise UnauthorizedError(f"the token {name} must be a JSON object")
        parsed.append(value)
    return parsed[0], parsed[1]


def _check_numeric_dates(payload: Mapping[str, Any]) -> None:
    """``exp``, ``nbf`` and ``iat`` must be JSON numbers (RFC 7519's NumericDate) that
    DynamoDB can store: PyJWT alone would take ``"1796..."`` (a string) for a date."""
    for name in NUMERIC_DATE_CLAIMS:
        value = payload.get(name)
        if name not in payload:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnauthorizedError(f"'{name}' must be a number (seconds since the epoch)")
        if not 0 <= value <= MAX_NUMERIC_DATE:
            raise UnauthorizedError(f"'{name}' must be between 0 and 2^53 seconds")


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
