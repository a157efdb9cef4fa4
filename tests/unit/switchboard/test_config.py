"""Settings from the environment; explicit arguments win."""

from __future__ import annotations

import pytest

from switchboard.config import Settings
from switchboard.errors import ConfigurationError


def test_defaults_and_environment() -> None:
    settings = Settings.from_env(
        {
            "CONNECTIONS_TABLE": "c",
            "ALLOWED_ORIGINS": "https://a.example, https://*.b.example ,",
            "FANOUT_CONCURRENCY": "8",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "WS_SECRET": "s" * 32,
        }
    )
    assert settings.connections_table == "c"
    assert settings.subscriptions_table == "switchboard-subscriptions"
    assert settings.allowed_origins == ("https://a.example", "https://*.b.example")
    assert settings.fanout_concurrency == 8
    assert settings.region == "eu-west-1"
    assert "s" * 32 not in repr(settings)


def test_arguments_win() -> None:
    assert (
        Settings.from_env({"FANOUT_CONCURRENCY": "8"}, fanout_concurrency=2).fanout_concurrency == 2
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"FANOUT_CONCURRENCY": "many"}, "integer", id="not-int"),
        pytest.param({"FANOUT_CONCURRENCY": "0"}, "at least 1", id="too-small"),
        pytest.param({"WS_SECRET": "short"}, "32 bytes", id="short-secret"),
    ],
)
def test_bad_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)
