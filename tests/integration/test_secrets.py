"""The token secret from the environment, SSM or Secrets Manager (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from switchboard.config import Settings
from switchboard.errors import ConfigurationError
from switchboard.secrets import load_token_secret

VALUE = "a-secret-from-the-parameter-store-0123456789"


@pytest.fixture
def aws() -> Iterator[None]:
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


def test_environment_wins() -> None:
    assert load_token_secret(Settings(ws_secret=VALUE, ws_secret_parameter="/x")) == VALUE


def test_nothing_configured() -> None:
    assert load_token_secret(Settings()) is None


def test_ssm_secure_string(aws: None) -> None:
    boto3.client("ssm").put_parameter(
        Name="/switchboard/ws-secret", Value=VALUE, Type="SecureString"
    )
    assert load_token_secret(Settings(ws_secret_parameter="/switchboard/ws-secret")) == VALUE


def test_secrets_manager(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(Name="switchboard/ws", SecretString=VALUE)
    assert load_token_secret(Settings(ws_secret_id="switchboard/ws")) == VALUE


def test_a_binary_secret_is_a_configuration_error(aws: None) -> None:
    boto3.client("secretsmanager").create_secret(Name="bin", SecretBinary=b"\x00\x01")
    with pytest.raises(ConfigurationError):
        load_token_secret(Settings(ws_secret_id="bin"))
