"""``HookErrors`` and ``HooksImportFailed``: what a failing hook counts, read from the EMF
documents Powertools prints (a failing hook answers, so Lambda's ``Errors`` never sees it)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from switchboard import hooks, telemetry
from switchboard.container import Container
from switchboard.hook_points import HookPoints, metric_point
from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection
from tests.unit.switchboard.test_hooks import FIXTURE, MODULE, connect, frame

FUNCTION = "switchboard-DefaultFunction-F1G2H3J4"
Counted = tuple[str, dict[str, str], float]


def counted(out: str) -> list[Counted]:
    """(metric, dimensions, value) of each EMF document among stdout's lines."""
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    found = []
    for doc in docs:
        if "_aws" not in doc:
            continue
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == telemetry.NAMESPACE
        [names] = directive["Dimensions"]
        for metric in directive["Metrics"]:
            assert metric["Unit"] == "Count"
            value = doc[metric["Name"]]  # a list of values, or one number
            total = sum(value) if isinstance(value, list) else value
            found.append((metric["Name"], {n: doc[n] for n in names}, total))
    return found


def hook_error(point: str) -> Counted:
    dimensions = {"service": "switchboard", "FunctionName": FUNCTION, "hook": point}
    return (telemetry.HOOK_ERRORS, dimensions, 1)


@pytest.fixture(autouse=True)
def function_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)


@pytest.fixture
def hooked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.syspath_prepend(str(FIXTURE))
    box, _store, _sender = make_container(hooks_module=MODULE)
    yield box
    sys.modules.pop(MODULE, None)


@pytest.mark.parametrize(
    ("point", "name"),
    [
        ("on_connect", "connect"),
        ("on_subscribe", "subscribe"),
        ("on_publish", "publish"),
        ("on_disconnect", "disconnect"),
        ("rpc:recent", "rpc"),
        ("rpc:a.b:c", "rpc"),
    ],
)
def test_the_hook_dimension_is_the_point_never_an_rpc_methods_name(point: str, name: str) -> None:
    assert metric_point(point) == name
    assert name in telemetry.HOOK_POINTS


def test_only_a_hook_point_is_a_dimension() -> None:
    with pytest.raises(ValueError, match="not a hook point"):
        telemetry.record_hook_error("rpc:recent")


def test_each_failure_counts_once_under_its_point(
    hooked: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    box = hooked
    open_connection(box, "A=", "alice")
    capsys.readouterr()
    assert connect(box, "C=", "carol", hooks="crash") == 500  # raised
    assert counted(capsys.readouterr().out) == [hook_error("connect")]
    for body, point in (
        ({"action": "subscribe", "channel": "room:boom"}, "subscribe"),  # raised
        ({"action": "publish", "channel": "room:boom", "data": 1}, "publish"),  # raised
        ({"action": "publish", "channel": "room:nan", "data": 1}, "publish"),  # not JSON
        ({"action": "rpc", "method": "boom"}, "rpc"),  # raised
        ({"action": "rpc", "method": "unencodable"}, "rpc"),  # not JSON
    ):
        reply = frame(box, "A=", **body, id="x")
        assert reply is not None
        assert reply["code"] == "internal", body
        assert counted(capsys.readouterr().out) == [hook_error(point)], body


def test_refusals_answers_and_a_payload_too_large_count_nothing(
    hooked: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    box = hooked
    open_connection(box, "A=", "alice")
    capsys.readouterr()
    assert connect(box, "C=", "carol", hooks="refuse") == 403  # a Reject is an answer
    for body, code in (
        ({"action": "publish", "channel": "room:a", "data": {"text": "darn"}}, "bad_word"),
        ({"action": "publish", "channel": "room:huge", "data": 1}, "payload_too_large"),
        ({"action": "rpc", "method": "nope"}, "unknown_method"),
        ({"action": "rpc", "method": "whoami"}, None),
        ({"action": "subscribe", "channel": "room:a"}, None),
    ):
        reply = frame(box, "A=", **body, id="x")
        assert reply is not None
        assert reply.get("code") == code, body
    assert counted(capsys.readouterr().out) == []


def test_a_raising_on_disconnect_counts_though_it_is_swallowed(
    hooked: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(ctx: hooks.Context) -> None:
        raise RuntimeError("disconnect bug")

    open_connection(hooked, "W=", "watcher")
    capsys.readouterr()
    points = HookPoints(hooks.Hooks(on_disconnect=broken), "app_hooks")
    assert points.forget(hooked.realtime(ENDPOINT), "W=").user_id == "watcher"
    assert counted(capsys.readouterr().out) == [hook_error("disconnect")]


def test_a_module_that_fails_to_import_counts_the_container_once_and_every_point(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken_hooks.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plain, _store, _sender = make_container()
    open_connection(plain, "A=", "alice")
    open_connection(plain, "B=", "bob")
    box = dataclasses.replace(plain, settings=replace(plain.settings, hooks_module="broken_hooks"))
    capsys.readouterr()
    try:
        points = box.hooks()
        assert points is not None
        assert points.broken
        failed = (
            telemetry.HOOKS_IMPORT_FAILED,
            {"service": "switchboard", "FunctionName": FUNCTION},
            1,
        )
        assert counted(capsys.readouterr().out) == [failed]
        assert connect(box, "C=", "carol") == 500
        assert counted(capsys.readouterr().out) == [hook_error("connect")]
        for body, point in (
            ({"action": "subscribe", "channel": "room:a"}, "subscribe"),
            ({"action": "publish", "channel": "room:a", "data": 1}, "publish"),
            ({"action": "rpc", "method": "recent"}, "rpc"),
        ):
            frame(box, "A=", **body, id="x")
            assert counted(capsys.readouterr().out) == [hook_error(point)], body
        frame(box, "A=", action="ping", id="p")  # runs no hook: counts nothing
        assert counted(capsys.readouterr().out) == []
        points.forget(box.realtime(ENDPOINT), "B=")
        assert counted(capsys.readouterr().out) == [hook_error("disconnect")]
        assert box.hooks() is points
        assert counted(capsys.readouterr().out) == []  # the import is not retried or recounted
    finally:
        sys.modules.pop("broken_hooks", None)


def test_without_a_lambda_function_name_the_dimension_is_left_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    capsys.readouterr()
    telemetry.record_hook_error("publish")
    assert counted(capsys.readouterr().out) == [
        (telemetry.HOOK_ERRORS, {"service": "switchboard", "hook": "publish"}, 1)
    ]
