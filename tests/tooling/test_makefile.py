"""The Makefile and the development-token command, as a newcomer types them.

Every target that ``make help`` lists (a ``## `` comment) must at least resolve: ``make -n``
prints its recipe without running it, so a prerequisite that names an undefined variable
(``$(B3_RUNTIME)/.stamp`` before ``B3_RUNTIME`` was defined became ``/.stamp``) fails here
instead of on a fresh clone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import jwt
import pytest

from local_gateway.settings import DEFAULT_WS_SECRET, ENV_WS_SECRET
from tests.e2e.conftest import ROOT

HELP_TARGET = re.compile(r"^([a-z0-9-]+):.*## ", re.MULTILINE)
MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = HELP_TARGET.findall(MAKEFILE)


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``make ARGS`` at the repository root, output captured."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_help_lists_every_documented_target() -> None:
    listed = re.findall(r"^  make (\S+)", make("help").stdout, re.MULTILINE)
    assert listed == TARGETS
    assert {"test", "dev", "token", "bench", "js-test", "browser-test"} <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_every_documented_target_resolves(target: str) -> None:
    result = make("-n", target, "USER=alice")
    assert result.returncode == 0, result.stderr
    assert "No rule to make target" not in result.stderr


def test_the_help_prints_the_port_in_use() -> None:
    assert "ws://localhost:3001," in make("help").stdout
    shown = make("help", env={"PORT": "4123"}).stdout
    assert "ws://localhost:4123, the demo page at http://localhost:4123/" in shown
    assert "$(PORT)" not in shown


def claims(token: str) -> dict[str, object]:
    """The claims of a development token, verified with the local secret."""
    secret = os.environ.get(ENV_WS_SECRET) or DEFAULT_WS_SECRET
    decoded: dict[str, object] = jwt.decode(token, secret, algorithms=["HS256"])
    return decoded


def token_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_gateway.token", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("user", ["", "   "], ids=["empty", "blank"])
def test_a_token_without_a_user_is_refused_with_the_fix(user: str) -> None:
    result = token_command("--user", user)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "the user is empty: make token USER=alice" in result.stderr


def test_make_token_with_an_empty_user_fails_and_prints_no_token() -> None:
    result = make("-s", "token", "USER=", "USER_ID=")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "the user is empty" in result.stderr


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        pytest.param("room:* user:bob", ["room:*", "user:bob"], id="spaces"),
        pytest.param("room:*, user:bob", ["room:*", "user:bob"], id="commas"),
        pytest.param(" room:*,,user:bob\tlobby ", ["room:*", "user:bob", "lobby"], id="mixed"),
    ],
)
def test_channels_separated_by_spaces_or_commas_become_several_patterns(
    text: str, patterns: list[str]
) -> None:
    result = token_command("--user", "bob", "--channels", text)
    assert result.returncode == 0, result.stderr
    token = claims(result.stdout.strip())
    assert token["sub"] == "bob"
    assert token["channels"] == patterns


def test_make_token_passes_channels_with_spaces_through() -> None:
    result = make("-s", "token", "USER=carol", "CHANNELS=room:* user:carol")
    assert result.returncode == 0, result.stderr
    token = claims(result.stdout.strip())
    assert (token["sub"], token["channels"]) == ("carol", ["room:*", "user:carol"])
