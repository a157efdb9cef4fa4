"""Channel names and the capability globs a token may carry."""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Any

from switchboard.errors import BadRequestError, ForbiddenError

CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_\-:.@=]{1,128}")
MAX_CAPABILITIES = 64


def validate_channel(value: Any) -> str:
    """Return ``value`` if it is a valid channel name, else raise ``bad_request``."""
    if not isinstance(value, str) or not value:
        raise BadRequestError("'channel' must be a non-empty string")
    if not CHANNEL_PATTERN.fullmatch(value):
        raise BadRequestError("'channel' must be 1 to 128 characters of letters, digits and _-:.@=")
    return value


MAX_SUBSCRIBE_CLAIM = 10  # channels a token's ``subscribe`` claim may name


def parse_subscribe_claim(claim: Any, capabilities: Sequence[str] | None) -> tuple[str, ...]:
    """Read a token's ``subscribe`` claim: the channels ``$connect`` subscribes the
    connection to, each a valid name allowed by ``capabilities``, at most
    :data:`MAX_SUBSCRIBE_CLAIM`; ``ValueError`` with the reason otherwise."""
    if claim is None:
        return ()
    if not isinstance(claim, list) or len(claim) > MAX_SUBSCRIBE_CLAIM:
        raise ValueError(f"'subscribe' must be a list of at most {MAX_SUBSCRIBE_CLAIM} channels")
    for name in claim:
        if not isinstance(name, str) or not CHANNEL_PATTERN.fullmatch(name):
            raise ValueError(
                "'subscribe' must hold channel names (1 to 128 of letters, digits, _-:.@=)"
            )
        if not is_allowed(name, capabilities):
            raise ValueError(f"'subscribe' names '{name}', which 'channels' does not allow")
    return tuple(dict.fromkeys(claim))


def parse_capabilities(claim: Any) -> tuple[str, ...] | None:
    """Read a token's ``channels`` claim: ``None`` (any channel) or a tuple of globs.

    Raises ``ValueError`` for a claim that is not a list of strings.
    """
    if claim is None:
        return None
    if not isinstance(claim, list) or not all(isinstance(p, str) and p for p in claim):
        raise ValueError("'channels' must be a list of non-empty strings")
    if len(claim) > MAX_CAPABILITIES:
        raise ValueError(f"'channels' holds more than {MAX_CAPABILITIES} patterns")
    return tuple(claim)


def is_allowed(channel: str, capabilities: Sequence[str] | None) -> bool:
    """Whether a connection with these capability globs may use ``channel``.

    ``*`` matches any run of characters, ``?`` one character; no capabilities
    (``None``) means every channel, an empty list means none.
    """
    if capabilities is None:
        return True
    return any(fnmatchcase(channel, pattern) for pattern in capabilities)


def check_allowed(channel: str, capabilities: Sequence[str] | None) -> None:
    """Raise ``forbidden`` unless ``channel`` is allowed by ``capabilities``."""
    if not is_allowed(channel, capabilities):
        raise ForbiddenError(f"this connection may not use channel '{channel}'")
