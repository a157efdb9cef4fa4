"""A failing hook through the real handlers (moto's DynamoDB): the invocation answers (500 at
``$connect``, ``internal`` at ``$default``) and succeeds, and its stdout carries the
``HookErrors`` EMF document next to what ``log_metrics`` flushes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard import services, telemetry
from tests.conftest import ROOT, ManagementApiFake, connect, make_token, send_frame
from tests.integration.test_connect import connect as handshake
from tests.integration.test_connect import counted, emf_documents


def hook_metrics(out: str) -> list[tuple[str, dict[str, str], float]]:
    """The hooks' metrics among an invocation's EMF documents."""
    names = {telemetry.HOOK_ERRORS, telemetry.HOOKS_IMPORT_FAILED}
    return [m for m in counted(emf_documents(out)) if m[0] in names]


FIXTURE = ROOT / "tests" / "hooks_fixture"


FUNCTION = "switchboard-ConnectFunction-F1G2H3J4"
MINE = {"service": "switchboard", "FunctionName": FUNCTION}


def hooks_module(monkeypatch: pytest.MonkeyPatch, path: Path, module: str) -> Iterator[None]:
    """``HOOKS_MODULE`` and the function's name, set before ``aws`` builds the container."""
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.setenv("HOOKS_MODULE", module)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    yield
    sys.modules.pop(module, None)
    services.reset()


@pytest.fixture
def raising(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from hooks_module(monkeypatch, FIXTURE, "hooks_under_test")


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    (tmp_path / "broken_hooks.py").write_text("def on_connect(:\n")  # a SyntaxError
    yield from hooks_module(monkeypatch, tmp_path, "broken_hooks")


def test_a_raising_hook_counts_hook_errors_and_the_invocation_answers(
    raising: None,
    aws: None,
    management: ManagementApiFake,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert handshake(make_token("carol", hooks="crash"), ctx=lambda_context)["statusCode"] == 500
    assert counted(emf_documents(capsys.readouterr().out)) == [  # and no Connected
        (telemetry.HOOK_ERRORS, {**MINE, "hook": "connect"}, 1),
        (telemetry.REFUSED, {"service": "switchboard", "reason": "hook_failed"}, 1),
    ]
    assert handshake(make_token("carol", hooks="refuse"), ctx=lambda_context)["statusCode"] == 403
    assert counted(emf_documents(capsys.readouterr().out)) == [  # a Reject is no hook error
        (telemetry.REFUSED, {"service": "switchboard", "reason": "hook"}, 1),
    ]
    connect("A=", "alice")
    capsys.readouterr()
    send_frame("A=", {"action": "subscribe", "channel": "room:boom", "id": "s"}, lambda_context)
    assert hook_metrics(capsys.readouterr().out) == [
        (telemetry.HOOK_ERRORS, {**MINE, "hook": "subscribe"}, 1)
    ]
    [reply] = management.frames["A="]
    assert (reply["id"], reply["code"]) == ("s", "internal")


def test_a_module_that_fails_to_import_counts_the_container_and_the_refused_handshake(
    broken: None, aws: None, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for _ in range(2):
        assert handshake(make_token("carol"), ctx=lambda_context)["statusCode"] == 500
    refused = (telemetry.REFUSED, {"service": "switchboard", "reason": "hook_failed"}, 1)
    assert counted(emf_documents(capsys.readouterr().out)) == [
        (telemetry.HOOKS_IMPORT_FAILED, MINE, 1),  # once per container
        (telemetry.HOOK_ERRORS, {**MINE, "hook": "connect"}, 1),
        refused,
        (telemetry.HOOK_ERRORS, {**MINE, "hook": "connect"}, 1),
        refused,
    ]
