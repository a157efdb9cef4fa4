"""Hostile input through the local gateway and template.yaml's real handlers: the cases
from issue 11 one by one, then a short form of ``make fuzz`` (the full run: ``make fuzz``)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from fuzz.run import count_tracebacks, run
from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def switchboard(start_gateway: StartGateway) -> GatewayProcess:
    """The real application, as ``make dev`` serves it."""
    return start_gateway(template=ROOT / "template.yaml", extra_args=["--no-watch"])


def test_a_frame_nested_10000_deep_gets_bad_request(switchboard: GatewayProcess) -> None:
    """Once a RecursionError in route selection: no reply at all."""
    token = sign_token(DEFAULT_WS_SECRET, "deep")
    deep = '{"action":"publish","channel":"a","id":"d","data":' + "[" * 10_000 + "]" * 10_000 + "}"
    with connect(f"{switchboard.url}?token={token}") as client:
        client.send(deep)
        reply = json.loads(client.recv(timeout=10))
        assert (reply["type"], reply["code"]) == ("error", "bad_request")
        assert "nested deeper than 32 levels" in reply["message"]
        assert "id" not in reply  # too deep to read the id from
        client.send(r'{"action":"ping","id":"\ud800"}')  # once: Internal server error
        reply = json.loads(client.recv(timeout=10))
        assert (reply["type"], reply["code"]) == ("error", "bad_request")
        assert "id" not in reply


def post(gateway: GatewayProcess, body: bytes) -> tuple[int, dict[str, str]]:
    server = sign_token(DEFAULT_WS_SECRET, "backend", scope="publish")
    request = urllib.request.Request(
        f"{gateway.http_url}/publish",
        data=body,
        headers={"Authorization": f"Bearer {server}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"channel":"a","data":"\xff"}', 400, id="not-utf8"),
        pytest.param(
            b'{"channel":"a","data":' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400, id="deep"
        ),
        pytest.param(b'{"channel":"a","data":NaN}', 400, id="nan"),
        pytest.param(b'{"channel":"a","data":1e400}', 400, id="1e400"),
        pytest.param(
            b'{"channel":"a","data":"' + b"x" * (1024 * 1024) + b'"}', 413, id="1-mb-and-a-bit"
        ),
        pytest.param(b'{"channel":"a","data":"' + b"x" * (3 * 1024 * 1024) + b'"}', 413, id="3-mb"),
    ],
)
def test_a_hostile_publish_body_gets_its_documented_status(
    switchboard: GatewayProcess, body: bytes, status: int
) -> None:
    answer_status, answer = post(switchboard, body)
    assert answer_status == status
    assert answer["code"] == {400: "bad_request", 413: "payload_too_large"}[status]


def test_two_tokens_in_one_handshake_are_refused(switchboard: GatewayProcess) -> None:
    first, second = (sign_token(DEFAULT_WS_SECRET, user) for user in ("alice", "mallory"))
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{switchboard.url}?token={first}&token={second}")
    assert refused.value.response.status_code == 401


def test_a_short_fuzz_leaves_the_gateway_working_and_its_log_clean(
    switchboard: GatewayProcess,
) -> None:
    report = asyncio.run(
        run(
            switchboard.url,
            switchboard.http_url,
            frames=600,
            connections=4,
            bodies=40,
            handshakes=20,
            seed=11,
        )
    )
    report.tracebacks = count_tracebacks(switchboard.lines)
    assert report.failures() == []
    assert sum(report.frames.values()) == 600
    assert report.replies["error:bad_request"] > 0
    assert report.replies["ack"] > 0
    assert report.afterwards == "ok"
