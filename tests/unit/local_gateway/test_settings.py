"""The functions' local environment (:mod:`local_gateway.settings`)."""

from __future__ import annotations

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
