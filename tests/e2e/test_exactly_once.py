"""Exactly-once publish through the local gateway with real clients: the publisher's socket
dies between the server's publish and its ack (the gateway's ``ack_lost`` fault), the
publish is retried with the same ``idempotencyKey`` on a new connection, and there is one
message with one seq."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway
from tests.e2e.test_realtime import request, url


@pytest.fixture(scope="module")
def lossy(start_gateway: StartGateway) -> GatewayProcess:
    """The real application; the first publish ack it would post is lost with its socket."""
    return start_gateway(
        template=ROOT / "template.yaml", extra_args=["--no-watch"], env={"FAULTS": "ack_lost=1"}
    )


def test_a_publish_retried_after_its_ack_was_lost_is_one_message_with_one_seq(
    lossy: GatewayProcess,
) -> None:
    channel = "room:once"
    frame = {
        "action": "publish",
        "channel": channel,
        "data": "exactly once",
        "id": "p1",
        "idempotencyKey": "2b7e1f0c-9a51-4d38-8c6e-3f2a1b0c9d8e",
    }
    with connect(url(lossy, "bob")) as bob:
        subscribed = request(bob, {"action": "subscribe", "channel": channel, "id": "s"})[-1]
        with connect(url(lossy, "alice")) as alice:
            alice.send(json.dumps(frame))
            with pytest.raises(ConnectionClosed):
                alice.recv(timeout=10)  # the socket dies where the ack would have come
        delivered = json.loads(bob.recv(timeout=10))
        assert (delivered["type"], delivered["data"]) == ("message", "exactly once")
        assert delivered["seq"] == subscribed["seq"] + 1
        with connect(url(lossy, "alice")) as alice:
            (ack,) = request(alice, {**frame, "id": "p2"})
            assert ack == {
                "type": "ack",
                "id": "p2",
                "channel": channel,
                "seq": delivered["seq"],
                "epoch": delivered["epoch"],
                "delivered": 0,
                "pruned": 0,
                "failed": 0,
                "duplicate": True,
            }
            page = request(alice, {"action": "history", "channel": channel, "id": "h"})[-1]
        assert [(m["seq"], m["data"]) for m in page["messages"]] == [
            (delivered["seq"], "exactly once")
        ]
        # bob got nothing more: the next frame he sees is the ping's answer
        (pong,) = request(bob, {"action": "ping", "id": "k"})
        assert pong["type"] == "pong"
