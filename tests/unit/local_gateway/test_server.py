"""The gateway's own tasks (:mod:`local_gateway.server`): none dies silently."""

from __future__ import annotations

from local_gateway.template import load_application
from tests.conftest import ROOT


def test_a_failing_gateway_task_is_logged_with_its_traceback() -> None:
    import asyncio
    import io

    from local_gateway.eventlog import EventLog
    from local_gateway.server import Gateway
    from local_gateway.workers import Workers

    stream = io.StringIO()
    gateway = Gateway(
        load_application(ROOT / "template.yaml"),
        Workers(),
        EventLog(stream),
        idle_timeout=600,
        max_duration=7200,
    )

    async def failing() -> None:
        raise RuntimeError("a gateway bug")

    async def ok() -> None:
        pass

    async def run() -> None:
        await asyncio.gather(gateway.spawn(failing()), gateway.spawn(ok()), return_exceptions=True)

    asyncio.run(run())
    output = stream.getvalue()
    assert output.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: a gateway bug" in output
    assert "failed" in output
