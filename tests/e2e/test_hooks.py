"""The app's hooks through the local gateway (HOOKS_PATH + HOOKS_MODULE, as ``make dev``):
every hook point, a Reject, a hook that raises, a refused publish spending no seq, and
ctx.publish / ctx.send_to_user reaching other clients from on_connect and on_disconnect."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local_gateway.settings import DEFAULT_WS_SECRET
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hooked(start_gateway: StartGateway) -> GatewayProcess:
    """The real application with the tests' hooks module."""
    return start_gateway(
        template=ROOT / "template.yaml",
        extra_args=["--no-watch"],
        env={
            "HOOKS_MODULE": "hooks_under_test",
            "HOOKS_PATH": str(ROOT / "tests" / "hooks_fixture"),
        },
    )


def token(user: str, **claims: Any) -> str:
    payload = {"sub": user, "exp": int(time.time()) + 60, **claims}
    return jwt.encode(payload, DEFAULT_WS_SECRET, algorithm="HS256")


def ask(websocket: ClientConnection, **frame: Any) -> dict[str, Any]:
    """Send one frame; its reply (skipping broadcasts)."""
    websocket.send(json.dumps(frame))
    while True:
        reply: dict[str, Any] = json.loads(websocket.recv(timeout=10))
        if reply.get("id") == frame.get("id") and reply["type"] in {"ack", "error", "pong"}:
            return reply


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        pytest.param("refuse", 403, id="reject"),
        pytest.param("teapot", 418, id="own-status"),
        pytest.param("crash", 500, id="bug"),
    ],
)
def test_on_connect_refuses_with_the_rejects_status(
    hooked: GatewayProcess, mode: str, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{hooked.url}?token={token('eve', hooks=mode)}")
    assert refused.value.response.status_code == status


def test_every_frame_hook_point(hooked: GatewayProcess) -> None:
    with (
        connect(f"{hooked.url}?token={token('alice', plan='pro')}") as alice,
        connect(f"{hooked.url}?token={token('bob')}") as bob,
    ):
        who = ask(alice, action="rpc", method="whoami", params={"x": 1}, id="w")
        assert who["type"] == "ack"
        assert who["result"]["user"] == "alice"
        assert who["result"]["meta"]["plan"] == "pro"
        assert who["result"]["params"] == {"x": 1}
        assert ask(bob, action="rpc", method="nope", id="u")["code"] == "unknown_method"
        assert ask(bob, action="rpc", id="m")["code"] == "bad_request"

        refused = ask(bob, action="subscribe", channel="room:vip", id="s")
        assert (refused["type"], refused["code"], refused["message"]) == (
            "error",
            "forbidden",
            "pro plan only",
        )
        assert ask(alice, action="subscribe", channel="room:vip", id="s")["type"] == "ack"
        assert ask(bob, action="subscribe", channel="room:boom", id="b")["code"] == "internal"

        bad = ask(alice, action="publish", channel="room:vip", data={"text": "darn"}, id="p1")
        assert (bad["type"], bad["code"]) == ("error", "bad_word")
        assert ask(alice, action="publish", channel="room:boom", data=1, id="p2")["code"] == (
            "internal"
        )
        good = ask(alice, action="publish", channel="room:vip", data={"text": "hi"}, id="p3")
        assert (good["type"], good["seq"]) == ("ack", 1)  # the refused publish took no seq
        page = ask(alice, action="history", channel="room:vip", id="h")
        assert [m["data"] for m in page["messages"]] == [
            {"text": "hi", "by": "alice", "plan": "pro"}
        ]
        assert ask(bob, action="rpc", method="boom", id="x")["code"] == "internal"
        # a hook's bug keeps the socket and the worker up
        assert ask(bob, action="ping", id="alive")["type"] == "pong"
        assert "Traceback" in "\n".join(hooked.lines)
        assert "rpc bug" in "\n".join(hooked.lines)


def test_on_disconnect_publishes_through_ctx(hooked: GatewayProcess) -> None:
    with connect(f"{hooked.url}?token={token('watcher')}") as watcher:
        assert ask(watcher, action="subscribe", channel="audit", id="s")["type"] == "ack"
        with connect(f"{hooked.url}?token={token('carol', plan='pro')}") as carol:
            assert ask(carol, action="ping", id="p")["type"] == "pong"
        message = json.loads(watcher.recv(timeout=10))
        while message["data"]["left"] != "carol":  # the earlier test's clients leaving
            message = json.loads(watcher.recv(timeout=10))
        assert (message["type"], message["channel"], message["from"]) == (
            "message",
            "audit",
            "server",
        )
        assert message["data"] == {"left": "carol", "plan": "pro"}


def test_on_connect_publishes_and_sends_through_ctx(hooked: GatewayProcess) -> None:
    with connect(f"{hooked.url}?token={token('greeter')}") as greeter:
        assert ask(greeter, action="subscribe", channel="room:arrivals", id="s")["type"] == "ack"
        dave = token("dave", announce="room:arrivals", notify="greeter")
        with connect(f"{hooked.url}?token={dave}") as arrived:
            assert ask(arrived, action="ping", id="p")["type"] == "pong"
            joined = json.loads(greeter.recv(timeout=10))
            hello = json.loads(greeter.recv(timeout=10))
        bye = json.loads(greeter.recv(timeout=10))  # on_disconnect's ctx.send_to_user
    assert (joined["type"], joined["channel"], joined["from"], joined["seq"]) == (
        "message",
        "room:arrivals",
        "server",
        1,
    )
    assert joined["data"] == {"joined": "dave"}
    assert [(f["type"], f["from"], f["data"]) for f in (hello, bye)] == [
        ("direct", "server", {"hello": "dave"}),
        ("direct", "server", {"bye": "dave"}),
    ]
