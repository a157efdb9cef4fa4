"""Development tokens: HS256 JWTs signed with the local ``WS_SECRET``.

``python -m local_gateway.token --user alice --channels 'room:*'`` prints one (``make token``);
the gateway's ``GET /dev/token`` serves the same to the demo page.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Sequence

import jwt

from local_gateway.settings import DEFAULT_WS_SECRET, ENV_WS_SECRET

__all__ = ["sign_token"]


def sign_token(
    secret: str,
    user: str,
    *,
    channels: Sequence[str] | None = None,
    ttl: float = 30,
    scope: str | None = None,
    single_use: bool = False,
) -> str:
    """A token for ``user`` that expires in ``ttl`` seconds."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": user, "iat": now, "exp": now + int(ttl)}
    if channels:
        claims["channels"] = list(channels)
    if scope:
        claims["scope"] = scope
    if single_use:
        claims["jti"] = uuid.uuid4().hex
    return jwt.encode(claims, secret, algorithm="HS256")


def split_channels(text: str | None) -> list[str] | None:
    """``"room:*, lobby"`` or ``"room:* lobby"`` -> ``["room:*", "lobby"]``; None or blank -> None
    (any channel). Commas and whitespace both separate patterns (a pattern holds neither)."""
    if not text:
        return None
    return text.replace(",", " ").split() or None


def user_id(text: str) -> str:
    """An argparse type: a non-blank user id (a token with ``sub: ""`` is refused with 401)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the user is empty: make token USER=alice (or --user alice); "
            "$connect refuses a token without a user with 401"
        )
    return text


def main(argv: Sequence[str] | None = None) -> None:
    """Print a token."""
    parser = argparse.ArgumentParser(prog="python -m local_gateway.token", description=__doc__)
    parser.add_argument("--user", required=True, type=user_id, help="the token's sub claim")
    parser.add_argument(
        "--channels", help="channel patterns, separated by commas or spaces: 'room:* user:alice'"
    )
    parser.add_argument("--ttl", type=float, default=3600, help="seconds (default: 3600)")
    parser.add_argument("--scope", help="e.g. publish, for server-side POST /publish")
    parser.add_argument("--single-use", action="store_true", help="add a jti claim")
    args = parser.parse_args(argv)
    secret = os.environ.get(ENV_WS_SECRET) or DEFAULT_WS_SECRET
    print(
        sign_token(
            secret,
            args.user,
            channels=split_channels(args.channels),
            ttl=args.ttl,
            scope=args.scope,
            single_use=args.single_use,
        )
    )


if __name__ == "__main__":
    main()
