"""Hot reload of the app's hooks in the local gateway (``make dev`` with ``HOOKS_PATH``):
a saved change to the hooks module is answered by the next frames, a module that no longer
imports answers ``internal`` without dropping the socket or the gateway, and a fix recovers.

The gateway polls ``HOOKS_PATH`` every 0.25 s and recycles the workers on a change; each
step waits for its ``RELOAD`` line, then asks until the answer is the new one (bounded).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token
from tests.e2e.conftest import ROOT, StartGateway

pytestmark = pytest.mark.e2e

MODULE_NAME = "reloaded_hooks"
DEADLINE = 15.0  # seconds for a saved change to be answered


def version(answer: str) -> str:
    return (
        "from switchboard import hooks\n\n\n"
        '@hooks.rpc("version")\n'
        "def version(ctx, params):\n"
        f"    return {answer!r}\n"
    )


def ask(websocket: ClientConnection, frame_id: str) -> dict[str, Any]:
    """One ``rpc("version")``; its reply."""
    websocket.send(json.dumps({"action": "rpc", "method": "version", "id": frame_id}))
    while True:
        reply: dict[str, Any] = json.loads(websocket.recv(timeout=10))
        if reply.get("id") == frame_id:
            return reply


def until(websocket: ClientConnection, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Ask until the reply (without its id) is ``wanted``; every reply seen, in order."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        reply = ask(websocket, f"q{len(seen)}")
        reply.pop("id")
        seen.append(reply)
        if reply == wanted:
            return seen
    raise AssertionError(f"never answered {wanted} within {DEADLINE}s; answers: {seen[-5:]}")


def test_a_saved_hooks_module_is_answered_and_a_broken_one_is_internal_until_fixed(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    module = hooks_dir / f"{MODULE_NAME}.py"
    module.write_text(version("v1"))
    gateway = start_gateway(
        template=ROOT / "template.yaml",
        env={"HOOKS_MODULE": MODULE_NAME, "HOOKS_PATH": str(hooks_dir)},
    )
    token = sign_token(DEFAULT_WS_SECRET, "alice")
    v1 = {"type": "ack", "result": "v1"}
    v2 = {"type": "ack", "result": "v2"}
    internal = {"type": "error", "code": "internal", "message": "internal error; try again"}
    with connect(f"{gateway.url}?token={token}") as websocket:
        assert until(websocket, v1) == [v1]

        seen = len(gateway.lines)
        module.write_text(version("v2"))
        gateway.wait_for_line(rf"RELOAD .*{MODULE_NAME}\.py", start=seen)
        assert all(reply in (v1, v2) for reply in until(websocket, v2))

        seen = len(gateway.lines)
        module.write_text(version("v3") + "\ndef broken(:\n")
        gateway.wait_for_line(rf"RELOAD .*{MODULE_NAME}\.py", start=seen)
        assert all(reply in (v2, internal) for reply in until(websocket, internal))
        gateway.wait_for_line(r"hooks module failed to import", start=seen)
        gateway.wait_for_line(r"SyntaxError", start=seen)
        # the socket and the gateway are up; frames that run no hook are answered
        websocket.send(json.dumps({"action": "ping", "id": "alive"}))
        assert json.loads(websocket.recv(timeout=10))["type"] == "pong"
        with pytest.raises(InvalidStatus) as refused:  # on_connect cannot run: 500
            connect(f"{gateway.url}?token={token}")
        assert refused.value.response.status_code == 500
        assert gateway.process.poll() is None

        seen = len(gateway.lines)
        module.write_text(version("v4"))
        gateway.wait_for_line(rf"RELOAD .*{MODULE_NAME}\.py", start=seen)
        v4 = {"type": "ack", "result": "v4"}
        assert all(reply in (internal, v4) for reply in until(websocket, v4))

    with connect(f"{gateway.url}?token={token}") as again:  # a new connection sees the fix
        assert until(again, v4) == [v4]
