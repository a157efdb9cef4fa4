"""Switchboard itself (template.yaml's real handlers) behind the local gateway: what
``make dev`` serves, driven as a browser would drive it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def switchboard(start_gateway: StartGateway) -> GatewayProcess:
    """The real application, as ``make dev`` serves it."""
    return start_gateway(template=ROOT / "template.yaml", extra_args=["--no-watch"])


def frames(websocket: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` frames, decoded."""
    return [json.loads(websocket.recv(timeout=10)) for _ in range(count)]


def test_a_bad_token_is_refused_with_401(switchboard: GatewayProcess) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{switchboard.url}?token=not-a-jwt")
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as missing:
        connect(switchboard.url)
    assert missing.value.response.status_code == 401


def test_two_clients_subscribe_publish_and_receive_in_order(switchboard: GatewayProcess) -> None:
    alice_token = sign_token(DEFAULT_WS_SECRET, "alice", channels=["room:*"])
    bob_token = sign_token(DEFAULT_WS_SECRET, "bob")
    with (
        connect(f"{switchboard.url}?token={alice_token}") as alice,
        connect(switchboard.url, subprotocols=["switchboard", bob_token]) as bob,  # type: ignore[list-item]
    ):
        assert bob.subprotocol == "switchboard"
        for client in (alice, bob):
            client.send(json.dumps({"action": "subscribe", "channel": "room:e2e", "id": "s"}))
            (ack,) = frames(client, 1)
            assert (ack["type"], ack["id"]) == ("ack", "s")

        alice_messages = []
        for number in range(1, 6):
            alice.send(
                json.dumps(
                    {
                        "action": "publish",
                        "channel": "room:e2e",
                        "data": {"n": number},
                        "id": f"p{number}",
                    }
                )
            )
            received = frames(alice, 2)
            ack = next(frame for frame in received if frame["type"] == "ack")
            assert (ack["id"], ack["seq"], ack["delivered"]) == (f"p{number}", number, 2)
            alice_messages += [frame for frame in received if frame["type"] == "message"]

        expected = [(n, {"n": n}, "alice", "room:e2e") for n in range(1, 6)]
        for messages in (alice_messages, frames(bob, 5)):
            assert [(m["seq"], m["data"], m["from"], m["channel"]) for m in messages] == expected


def test_ping_tells_the_client_its_connection_id(switchboard: GatewayProcess) -> None:
    token = sign_token(DEFAULT_WS_SECRET, "carol")
    management = switchboard.management()
    with connect(f"{switchboard.url}?token={token}", user_agent_header="e2e/real") as carol:
        carol.send(json.dumps({"action": "ping", "id": "p"}))
        (pong,) = frames(carol, 1)
        assert (pong["type"], pong["id"]) == ("pong", "p")
        described = management.get_connection(ConnectionId=pong["connectionId"])
        assert described["Identity"]["UserAgent"] == "e2e/real"
