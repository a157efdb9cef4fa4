"""The gateway's settings, read once: command-line arguments win over environment variables.

Every environment variable the gateway reads is named here, and so is everything the
gateway adds to or removes from a function's environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_gateway.faults import ENV_FAULTS, FaultSettings, parse_faults
from local_gateway.local_aws import REGION
from local_gateway.template import FunctionSpec

__all__ = ["DEFAULT_WS_SECRET", "Settings", "function_environment"]

# The documented local default (47 bytes); never used outside this machine.
DEFAULT_WS_SECRET = "switchboard-local-development-secret-0123456789"  # noqa: S105

ENV_PORT = "PORT"
ENV_HOST = "HOST"
ENV_WS_SECRET = "WS_SECRET"  # noqa: S105 - a variable name
ENV_DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"
ENV_TEMPLATE = "TEMPLATE"
ENV_SQS_VISIBILITY_TIMEOUT = "SQS_VISIBILITY_TIMEOUT"
ENV_HOOKS_MODULE = "HOOKS_MODULE"  # the app's hooks module, for the functions that run hooks
ENV_HOOKS_PATH = "HOOKS_PATH"  # a directory first on those functions' import path (watched)
# ENV_FAULTS ("FAULTS"): injected failures, local_gateway.faults

# Variables of the gateway's own environment that a function may see (the rest stays out).
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
# Template variables that only make sense on AWS: locally WS_SECRET holds the secret.
DROPPED_LOCALLY = ("WS_SECRET_PARAMETER", "WS_SECRET_ID")
# Local defaults, over the template's values, that the developer's environment (or an
# --env-vars file) may override (e.g. POWERTOOLS_METRICS_DISABLED=false shows the metrics).
LOCAL_DEFAULTS = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How one gateway runs."""

    template: Path = Path("template.yaml")
    host: str = "localhost"
    port: int = 3001
    ws_secret: str = DEFAULT_WS_SECRET
    dynamodb_endpoint: str | None = None
    sqs_visibility_timeout: int | None = None  # overrides every queue's VisibilityTimeout
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    workers_per_function: int = 4
    watch: bool = True
    prewarm: bool = True
    env_vars: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    static_root: Path | None = None  # where clients/ lives; the template's directory by default
    quiet_functions: bool = False
    raw_function_logs: bool = False
    verbose: bool = False
    faults: FaultSettings = dataclasses.field(default_factory=FaultSettings)  # none by default
    hooks_module: str | None = None
    hooks_path: Path | None = None

    @classmethod
    def from_environment(cls, **overrides: Any) -> Settings:
        """Settings from the environment, ``overrides`` (e.g. parsed arguments) winning."""
        values: dict[str, Any] = {}
        if ENV_TEMPLATE in os.environ:
            values["template"] = Path(os.environ[ENV_TEMPLATE])
        if ENV_HOST in os.environ:
            values["host"] = os.environ[ENV_HOST]
        if ENV_PORT in os.environ:
            values["port"] = int(os.environ[ENV_PORT])
        if os.environ.get(ENV_WS_SECRET):
            values["ws_secret"] = os.environ[ENV_WS_SECRET]
        if os.environ.get(ENV_DYNAMODB_ENDPOINT):
            values["dynamodb_endpoint"] = os.environ[ENV_DYNAMODB_ENDPOINT]
        if os.environ.get(ENV_SQS_VISIBILITY_TIMEOUT):
            values["sqs_visibility_timeout"] = int(os.environ[ENV_SQS_VISIBILITY_TIMEOUT])
        if os.environ.get(ENV_HOOKS_MODULE):
            values["hooks_module"] = os.environ[ENV_HOOKS_MODULE]
        if os.environ.get(ENV_HOOKS_PATH):
            values["hooks_path"] = Path(os.environ[ENV_HOOKS_PATH]).resolve()
        if os.environ.get(ENV_FAULTS):
            values["faults"] = parse_faults(os.environ[ENV_FAULTS])
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def load_env_vars(path: Path) -> dict[str, dict[str, str]]:
    """A ``sam local --env-vars`` file: ``{"Parameters": {...}, "FunctionName": {...}}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        str(scope): {str(key): str(value) for key, value in variables.items()}
        for scope, variables in data.items()
    }


def function_environment(
    spec: FunctionSpec,
    settings: Settings,
    *,
    management_endpoint: str,
    dynamodb_endpoint: str,
    sqs_endpoint: str | None = None,
) -> dict[str, str]:
    """The ``os.environ`` of one function's workers, as Lambda would build it, made local.

    ``sqs_endpoint`` (the embedded SQS, when the template has queues) reaches boto3 and
    botocore clients as ``AWS_ENDPOINT_URL_SQS``, the service-specific endpoint override.
    """
    environment = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{secrets.token_hex(16)}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_EC2_METADATA_DISABLED": "true",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            "TZ": ":UTC",
        }
    )
    environment.update(spec.environment)
    # after the template's values: there is no X-Ray daemon here, whatever Tracing says
    environment.update({key: os.environ.get(key, value) for key, value in LOCAL_DEFAULTS.items()})
    for key in DROPPED_LOCALLY:
        environment.pop(key, None)
    environment.update(
        {
            "WS_SECRET": settings.ws_secret,
            "MANAGEMENT_ENDPOINT": management_endpoint,
            "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        }
    )
    if sqs_endpoint is not None:
        environment["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
    if ENV_HOOKS_MODULE in spec.environment:  # a function that runs the app's hooks
        if settings.hooks_module:
            environment[ENV_HOOKS_MODULE] = settings.hooks_module
        if settings.hooks_path is not None:
            environment[ENV_HOOKS_PATH] = str(settings.hooks_path)  # runtime.py reads it
    environment.update(settings.env_vars.get("Parameters", {}))
    environment.update(settings.env_vars.get(spec.name, {}))
    return environment
