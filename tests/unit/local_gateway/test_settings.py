"""The functions' local environment (:mod:`local_gateway.settings`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_gateway.settings import Settings, function_environment
from local_gateway.template import load_application
from tests.conftest import ROOT


def test_tracing_is_off_locally_whatever_the_template_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = load_application(ROOT / "template.yaml")
    spec = app.functions["DefaultFunction"]
    assert spec.environment["POWERTOOLS_TRACE_DISABLED"] == "false"  # Tracing: Active
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    local = function_environment(
        spec, Settings(), management_endpoint="http://x", dynamodb_endpoint="http://y"
    )
    assert local["POWERTOOLS_TRACE_DISABLED"] == "true"  # no X-Ray daemon here
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")  # the developer may ask
    local = function_environment(
        spec, Settings(), management_endpoint="http://x", dynamodb_endpoint="http://y"
    )
    assert local["POWERTOOLS_TRACE_DISABLED"] == "false"


def test_hooks_reach_only_the_functions_that_run_hooks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOKS_MODULE", "app_hooks")
    monkeypatch.setenv("HOOKS_PATH", str(tmp_path))
    settings = Settings.from_environment()
    assert (settings.hooks_module, settings.hooks_path) == ("app_hooks", tmp_path.resolve())
    app = load_application(ROOT / "template.yaml")
    for name in ("ConnectFunction", "DefaultFunction", "DisconnectFunction", "PublishFunction"):
        local = function_environment(
            app.functions[name], settings, management_endpoint="x", dynamodb_endpoint="y"
        )
        runs_hooks = name != "PublishFunction"
        assert local.get("HOOKS_MODULE") == ("app_hooks" if runs_hooks else None)
        assert local.get("HOOKS_PATH") == (str(tmp_path.resolve()) if runs_hooks else None)
