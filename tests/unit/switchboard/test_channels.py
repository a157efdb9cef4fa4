"""Channel names and capability globs."""

from __future__ import annotations

import pytest

from switchboard.channels import check_allowed, is_allowed, parse_capabilities, validate_channel
from switchboard.errors import BadRequestError, ForbiddenError


@pytest.mark.parametrize("name", ["a", "room:lobby", "user@example.com", "a_b-c.d=e", "x" * 128])
def test_valid_names(name: str) -> None:
    assert validate_channel(name) == name


@pytest.mark.parametrize(
    "name", ["", "x" * 129, "room lobby", "room/1", "é", "a*b", None, 5, ["a"]]
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(BadRequestError):
        validate_channel(name)


@pytest.mark.parametrize(
    ("channel", "patterns", "allowed"),
    [
        pytest.param("room:1", None, True, id="no-claim-any-channel"),
        pytest.param("room:1", (), False, id="empty-list-no-channel"),
        pytest.param("room:1", ("room:*",), True, id="glob"),
        pytest.param("roomy", ("room:*",), False, id="glob-prefix-only"),
        pytest.param("Room:1", ("room:*",), False, id="case-sensitive"),
        pytest.param("user:alice", ("news", "user:alice"), True, id="exact"),
    ],
)
def test_capabilities(channel: str, patterns: tuple[str, ...] | None, allowed: bool) -> None:
    assert is_allowed(channel, patterns) is allowed
    if allowed:
        check_allowed(channel, patterns)
    else:
        with pytest.raises(ForbiddenError):
            check_allowed(channel, patterns)


def test_parse_capabilities() -> None:
    assert parse_capabilities(None) is None
    assert parse_capabilities(["a", "b*"]) == ("a", "b*")
    for bad in ("a", [1], [""], ["x"] * 65):
        with pytest.raises(ValueError, match="'channels'"):
            parse_capabilities(bad)
