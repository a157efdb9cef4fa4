"""The app's hooks on the in-memory store: every hook point, Reject, a hook's bug, rpc."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from switchboard import hooks
from switchboard.container import Container
from switchboard.errors import ConfigurationError, translate
from switchboard.hook_points import HookPoints, import_hooks
from tests.unit.switchboard.fakes import (
    ENDPOINT,
    FakeSender,
    handshake_of,
    make_container,
    open_connection,
)

FIXTURE = Path(__file__).resolve().parents[2] / "hooks_fixture"
MODULE = "hooks_under_test"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def hooked(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Container, FakeSender]]:
    monkeypatch.syspath_prepend(str(FIXTURE))
    box, _store, sender = make_container(hooks_module=MODULE)
    yield box, sender
    sys.modules.pop(MODULE, None)


def frame(box: Container, connection_id: str, **body: Any) -> dict[str, Any] | None:
    return box.message_handler(ENDPOINT).handle(connection_id, json.dumps(body))


def connect(box: Container, connection_id: str, user: str = "alice", **claims: Any) -> int:
    return box.connector().connect(handshake_of(box, connection_id, user, **claims)).status


def test_on_connect_keeps_its_dict_as_meta_with_the_claims(hooked: Any) -> None:
    box, _sender = hooked
    record = open_connection(box, "A=", "alice", plan="pro")
    assert json.loads(record.meta or "") == {"plan": "pro", "connection": "A="}
    assert json.loads(record.claims or "")["plan"] == "pro"
    reply = frame(box, "A=", action="rpc", method="whoami", params=[1], id="r")
    assert reply == {
        "type": "ack",
        "id": "r",
        "result": {
            "user": "alice",
            "sub": "alice",
            "meta": {"plan": "pro", "connection": "A="},
            "params": [1],
        },
    }


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        pytest.param("refuse", 403, id="reject-default-403"),
        pytest.param("teapot", 418, id="reject-own-status"),
        pytest.param("crash", 500, id="bug-500"),
    ],
)
def test_on_connect_refusals_store_nothing(
    hooked: Any, mode: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    box, _sender = hooked
    with caplog.at_level(logging.INFO):
        assert connect(box, "B=", hooks=mode) == status
    assert box.store.get_connection("B=") is None
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == (1 if mode == "crash" else 0)
    assert all("eyJ" not in r.getMessage() for r in caplog.records)  # never a token


def test_on_connect_returning_none_keeps_no_meta(hooked: Any) -> None:
    box, _sender = hooked
    record = open_connection(box, "A=", "alice", hooks="no-meta")
    assert record.meta is None
    reply = frame(box, "A=", action="rpc", method="whoami", id="r")
    assert reply is not None
    assert reply["result"]["meta"] is None


def test_on_subscribe_rejects_with_its_code_and_a_bug_is_internal(hooked: Any) -> None:
    box, _sender = hooked
    open_connection(box, "A=", "alice", plan="free")
    open_connection(box, "P=", "paula", plan="pro")
    refused = frame(box, "A=", action="subscribe", channel="room:vip1", id="s")
    assert refused == {
        "type": "error",
        "id": "s",
        "code": "forbidden",
        "message": "pro plan only",
    }
    assert list(box.store.subscribers("room:vip1")) == []
    accepted = frame(box, "P=", action="subscribe", channel="room:vip1", id="s")
    assert accepted is not None
    assert accepted["type"] == "ack"
    bug = frame(box, "P=", action="subscribe", channel="room:boom", id="b")
    assert bug is not None
    assert (bug["code"], bug["message"]) == ("internal", "internal error; try again")
    assert frame(box, "P=", action="ping", id="p") == {
        "type": "pong",
        "id": "p",
        "connectionId": "P=",
    }


def test_on_publish_changes_what_subscribers_and_history_get(hooked: Any) -> None:
    box, sender = hooked
    open_connection(box, "A=", "alice", plan="pro")
    frame(box, "A=", action="subscribe", channel="room:a", id="s")
    ack = frame(box, "A=", action="publish", channel="room:a", data={"text": "hi"}, id="p")
    assert ack is not None
    assert ack["seq"] == 1
    published = {"text": "hi", "by": "alice", "plan": "pro"}
    assert [m["data"] for m in sender.of_type("A=", "message")] == [published]
    page = frame(box, "A=", action="history", channel="room:a", id="h")
    assert page is not None
    assert [m["data"] for m in page["messages"]] == [published]


@pytest.mark.parametrize(
    ("channel", "data", "code"),
    [
        pytest.param("room:a", {"text": "oh darn"}, "bad_word", id="reject"),
        pytest.param("room:boom", 1, "internal", id="bug"),
        pytest.param("room:nan", 1, "internal", id="not-strict-json"),
        pytest.param("room:huge", 1, "payload_too_large", id="too-large"),
    ],
)
def test_a_refused_publish_consumes_no_seq(hooked: Any, channel: str, data: Any, code: str) -> None:
    box, sender = hooked
    open_connection(box, "A=", "alice")
    frame(box, "A=", action="subscribe", channel=channel, id="s")
    refused = frame(box, "A=", action="publish", channel=channel, data=data, id="p")
    assert refused is not None
    assert (refused["type"], refused["code"]) == ("error", code)
    assert sender.of_type("A=", "message") == []
    page = frame(box, "A=", action="history", channel=channel, limit=0, id="h")
    assert page is not None
    assert page["seq"] == 0


def test_a_refused_publish_then_the_next_takes_seq_1(hooked: Any) -> None:
    box, _sender = hooked
    open_connection(box, "A=", "alice")
    frame(box, "A=", action="publish", channel="room:a", data={"text": "darn"}, id="1")
    ack = frame(box, "A=", action="publish", channel="room:a", data={"text": "ok"}, id="2")
    assert ack is not None
    assert (ack["type"], ack["seq"]) == ("ack", 1)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"params": 1}, "bad_request", id="no-method"),
        pytest.param({"method": 7}, "bad_request", id="method-not-a-string"),
        pytest.param({"method": ""}, "bad_request", id="empty-method"),
        pytest.param({"method": "a b"}, "bad_request", id="method-with-space"),
        pytest.param({"method": "nope"}, "unknown_method", id="unknown"),
        pytest.param({"method": "boom"}, "internal", id="bug"),
        pytest.param({"method": "unencodable"}, "internal", id="result-not-json"),
    ],
)
def test_rpc_errors(hooked: Any, body: dict[str, Any], code: str) -> None:
    box, _sender = hooked
    open_connection(box, "A=", "alice")
    reply = frame(box, "A=", action="rpc", id="r", **body)
    assert reply is not None
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "r", code)


def test_ctx_publish_and_send_to_user_from_rpc(hooked: Any) -> None:
    box, sender = hooked
    open_connection(box, "A=", "alice")
    open_connection(box, "B=", "bob")
    frame(box, "B=", action="subscribe", channel="news", id="s")
    announced = frame(
        box, "A=", action="rpc", method="announce", params={"channel": "news", "data": 1}, id="r"
    )
    assert announced == {"type": "ack", "id": "r", "result": 1}
    [message] = sender.of_type("B=", "message")
    assert (message["data"], message["from"], message["seq"]) == (1, "server", 1)
    sent = frame(
        box, "A=", action="rpc", method="dm", params={"user": "bob", "data": "psst"}, id="d"
    )
    assert sent == {"type": "ack", "id": "d", "result": 1}
    [direct] = sender.of_type("B=", "direct")
    assert (direct["data"], direct["from"]) == ("psst", "server")


def test_on_disconnect_runs_after_forgetting_and_its_bug_is_swallowed(hooked: Any) -> None:
    box, sender = hooked
    open_connection(box, "A=", "alice", plan="pro")
    open_connection(box, "W=", "watcher")
    frame(box, "W=", action="subscribe", channel="audit", id="s")
    points = box.hooks()
    assert points is not None
    deleted = points.forget(box.realtime(ENDPOINT), "A=")
    assert deleted.user_id == "alice"
    assert box.store.get_connection("A=") is None
    [message] = sender.of_type("W=", "message")
    assert message["data"] == {"left": "alice", "plan": "pro"}

    def broken(ctx: hooks.Context) -> None:
        raise RuntimeError("disconnect bug")

    broken_points = HookPoints(hooks.Hooks(on_disconnect=broken))
    assert broken_points.forget(box.realtime(ENDPOINT), "W=").user_id == "watcher"


def test_without_hooks_rpc_is_unknown_method() -> None:
    box, _store, _sender = make_container()
    open_connection(box, "A=", "alice")
    assert box.hooks() is None
    reply = frame(box, "A=", action="rpc", method="whoami", id="r")
    assert reply == {
        "type": "error",
        "id": "r",
        "code": "unknown_method",
        "message": "no rpc method 'whoami'",
    }


def test_unknown_method_is_in_the_error_table() -> None:
    from switchboard.errors import UnknownMethodError

    assert translate(UnknownMethodError("x")).status == 404
    assert translate(hooks.Reject(code="nope", message="m")).code == "nope"


def test_registration_rules() -> None:
    registry = hooks.Hooks()
    registry.set_point("on_publish", print)
    with pytest.raises(ValueError, match="second on_publish"):
        registry.set_point("on_publish", print)
    registry.add_method("a", print)
    with pytest.raises(ValueError, match="twice"):
        registry.add_method("a", print)
    with pytest.raises(ValueError, match="method name"):
        registry.add_method("a b", print)
    with pytest.raises(ValueError, match="code"):
        hooks.Reject(code="Bad Code")
    with pytest.raises(ValueError, match="4xx"):
        hooks.Reject(status=500)


def test_a_module_that_cannot_be_imported_fails_loudly() -> None:
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        import_hooks("no_such_hooks_module_here")


BROKEN_MODULES = [
    pytest.param("def broken(:\n", "SyntaxError", id="syntax-error"),
    pytest.param("import no_such_dependency_here\n", "ModuleNotFoundError", id="missing-import"),
    pytest.param(
        "from switchboard import hooks\n"
        "hooks.on_publish(lambda ctx, channel, data: data)\n"
        "hooks.on_publish(lambda ctx, channel, data: data)\n",
        "ValueError",
        id="two-on_publish",
    ),
]


@pytest.mark.parametrize(("source", "error"), BROKEN_MODULES)
def test_a_module_that_fails_to_import_fails_every_hook_point_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    source: str,
    error: str,
) -> None:
    (tmp_path / "broken_hooks.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    plain, _store, sender = make_container()
    open_connection(plain, "A=", "alice")
    open_connection(plain, "B=", "bob")
    box = dataclasses.replace(plain, settings=replace(plain.settings, hooks_module="broken_hooks"))
    try:
        points = box.hooks()
        assert points is not None
        assert points.broken
        [loaded] = [r for r in caplog.records if r.message == "hooks module failed to import"]
        assert loaded.exc_info is not None  # logged with its traceback
        assert error in caplog.text
        internal = {"code": "internal", "message": "internal error; try again"}
        for body in (
            {"action": "rpc", "method": "recent"},
            {"action": "subscribe", "channel": "room:a"},
            {"action": "publish", "channel": "room:a", "data": 1},
        ):
            assert frame(box, "A=", **body, id="x") == {"type": "error", "id": "x", **internal}
        assert frame(box, "A=", action="ping", id="p") == {
            "type": "pong",
            "id": "p",
            "connectionId": "A=",
        }
        history = frame(box, "A=", action="history", channel="room:a", id="h")
        assert history is not None
        assert history["messages"] == []  # the refused publish took no seq
        assert connect(box, "C=", "carol") == 500
        assert box.store.get_connection("C=") is None
        assert points.forget(box.realtime(ENDPOINT), "B=").user_id == "bob"
        assert box.store.get_connection("B=") is None
        assert sender.of_type("A=", "message") == []
        assert box.hooks() is points  # imported once per container
    finally:
        sys.modules.pop("broken_hooks", None)


def test_reimporting_takes_the_module_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURE))
    first = import_hooks(MODULE)
    second = import_hooks(MODULE)  # a reload registers again, without "a second hook"
    sys.modules.pop(MODULE, None)
    assert sorted(first.methods) == sorted(second.methods)
    assert second.on_publish is not None
    assert hooks.registry.on_publish is None  # the registry is left empty


def test_no_hooks_module_imports_no_hook_machinery() -> None:
    """Without HOOKS_MODULE, a frame and a handshake import neither module."""
    script = (
        "import sys, json\n"
        "from tests.unit.switchboard.fakes import make_container, open_connection, ENDPOINT\n"
        "box, _s, _o = make_container()\n"
        "open_connection(box, 'A=', 'alice')\n"
        "box.message_handler(ENDPOINT).handle('A=', json.dumps("
        "{'action': 'publish', 'channel': 'room:a', 'data': 1}))\n"
        "print('switchboard.actions' in sys.modules,"
        " sorted(m for m in sys.modules if m.startswith('switchboard.hook')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={"PYTHONPATH": f"{REPO}:{REPO / 'layers' / 'switchboard'}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True []"


def test_the_example_hooks_refuse_stamp_keep_and_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "examples" / "hooks"))
    monkeypatch.delenv("APP_MESSAGES_TABLE", raising=False)
    box, _store, sender = make_container(hooks_module="app_hooks")
    try:
        open_connection(box, "A=", "alice")
        frame(box, "A=", action="subscribe", channel="room:a", id="s")
        refused = frame(box, "A=", action="publish", channel="room:a", data={"text": "Oh darn"})
        assert refused is not None
        assert refused["code"] == "forbidden"
        ack = frame(box, "A=", action="publish", channel="room:a", data={"text": "hi"}, id="p")
        assert ack is not None
        assert ack["seq"] == 1
        [message] = sender.of_type("A=", "message")
        assert set(message["data"]) == {"text", "serverTime", "user"}
        assert isinstance(message["data"]["serverTime"], int)
        kept = frame(box, "A=", action="rpc", method="recent", params={"channel": "room:a"})
        assert kept is not None
        assert kept["result"] == [message["data"]]
        bad = frame(box, "A=", action="rpc", method="recent", params=[])
        assert bad is not None
        assert bad["code"] == "bad_request"
    finally:
        sys.modules.pop("app_hooks", None)
