"""The gateway over time: idle and maximum-duration timeouts, hot reload, a new function."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import GatewayProcess, StartGateway
from tests.e2e.test_gateway import whoami

pytestmark = pytest.mark.e2e

IDLE = 1.0
MAXIMUM = 2.5


def keep_talking(websocket: ClientConnection, until: float) -> None:
    """Send a message every quarter of the idle timeout, until ``until`` or a close."""
    while time.monotonic() < until:
        websocket.send("keep alive")
        assert websocket.recv(timeout=10) == "keep alive"
        time.sleep(IDLE / 4)


@pytest.fixture(scope="module")
def short_timeouts(start_gateway: StartGateway) -> GatewayProcess:
    """The fixture application with a 1 s idle timeout and a 2.5 s maximum duration."""
    return start_gateway(
        extra_args=["--idle-timeout", str(IDLE), "--max-duration", str(MAXIMUM), "--no-watch"]
    )


def test_the_idle_timeout_closes_with_1001_and_runs_disconnect(
    short_timeouts: GatewayProcess,
) -> None:
    with connect(short_timeouts.url) as websocket:
        # The gateway's last traffic on this connection falls between sending the frame
        # and reading its reply; the close comes IDLE after it, however slow the machine.
        sent = time.monotonic()
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        answered = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            websocket.recv(timeout=10)
        closed_at = time.monotonic()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert closed_at - sent >= IDLE * 0.95
    assert closed_at - answered <= IDLE + 1.5
    context = short_timeouts.record(f"disconnect-{connection_id}")["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")


def test_the_maximum_duration_closes_even_a_busy_connection(
    short_timeouts: GatewayProcess,
) -> None:
    opened = time.monotonic()
    with connect(short_timeouts.url) as websocket:
        connection_id = whoami(websocket)["requestContext"]["connectionId"]
        with pytest.raises(ConnectionClosed) as closed:
            keep_talking(websocket, until=opened + 10)
    lived = time.monotonic() - opened
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    assert MAXIMUM * 0.9 <= lived <= MAXIMUM + 1.5
    context = short_timeouts.record(f"disconnect-{connection_id}")["requestContext"]
    assert context["disconnectStatusCode"] == 1001


def test_hot_reload_runs_new_code_on_the_next_event_without_dropping_the_socket(
    start_gateway: StartGateway, app_copy: Path
) -> None:
    gateway = start_gateway(template=app_copy / "template.yaml")
    echo = app_copy / "functions" / "echo" / "app.py"
    layer = app_copy / "layers" / "fixture" / "fixturelib.py"
    with connect(gateway.url) as websocket:
        websocket.send("before")
        assert websocket.recv(timeout=10) == "before"

        seen = len(gateway.lines)
        echo.write_text(
            echo.read_text().replace("Data=body.encode()", 'Data=("v2:" + body).encode()')
        )
        gateway.wait_for_line(r"RELOAD .*app\.py", start=seen)
        websocket.send("after")
        assert websocket.recv(timeout=10) == "v2:after"

        seen = len(gateway.lines)
        layer.write_text(layer.read_text() + '\nSUFFIX = ":layer"\n')
        echo.write_text(
            echo.read_text()
            .replace(
                "from fixturelib import management", "from fixturelib import SUFFIX, management"
            )
            .replace('("v2:" + body)', "(body + SUFFIX)")
        )
        gateway.wait_for_line(r"RELOAD .*(app|fixturelib)\.py", start=seen)
        time.sleep(0.3)  # both files written: let a second scan settle
        websocket.send("again")
        assert websocket.recv(timeout=10) == "again:layer"

        seen = len(gateway.lines)
        working = echo.read_text()
        echo.write_text(working + "\ndef broken(:\n")
        gateway.wait_for_line(r"RELOAD .*app\.py", start=seen)
        websocket.send("broken")
        assert json.loads(websocket.recv(timeout=10))["message"] == "Internal server error"
        gateway.wait_for_line(r"EchoFunction \| SyntaxError", start=seen)

        seen = len(gateway.lines)
        echo.write_text(working)
        gateway.wait_for_line(r"RELOAD .*app\.py", start=seen)
        websocket.send("fixed")
        assert websocket.recv(timeout=10) == "fixed:layer"


def test_a_function_added_to_the_template_is_served_without_a_gateway_change(
    start_gateway: StartGateway, app_copy: Path
) -> None:
    shout = app_copy / "functions" / "shout"
    shout.mkdir()
    (shout / "handler.py").write_text(
        "import json\n"
        "from fixturelib import management\n\n"
        "def handle(event, context):\n"
        '    text = json.loads(event["body"])["text"]\n'
        "    management().post_to_connection(\n"
        '        ConnectionId=event["requestContext"]["connectionId"],\n'
        '        Data=(event["requestContext"]["routeKey"] + ":" + text.upper()).encode(),\n'
        "    )\n"
    )
    template = app_copy / "template.yaml"
    text = template.read_text()
    text = text.replace(
        "        boom:\n",
        "        shout:\n          FunctionArn: !GetAtt ShoutFunction.Arn\n        boom:\n",
    )
    text = text.replace(
        "  RecordsTable:\n",
        "  ShoutFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/shout/\n"
        "      Handler: handler.handle\n\n"
        "  RecordsTable:\n",
    )
    template.write_text(text)
    gateway = start_gateway(template=template)
    with connect(gateway.url) as websocket:
        websocket.send(json.dumps({"action": "shout", "text": "hello"}))
        assert websocket.recv(timeout=10) == "shout:HELLO"
        websocket.send("plain")
        assert websocket.recv(timeout=10) == "plain"
