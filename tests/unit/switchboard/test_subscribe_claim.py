"""The token's ``subscribe`` claim: ``$connect`` subscribes the connection to each channel,
so the first message can arrive before the client sends anything; a claim that names a
channel the token's ``channels`` refuse, too many channels, or a presence channel is 401."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard.channels import MAX_SUBSCRIBE_CLAIM
from switchboard.lifecycle import Handshake
from tests.conftest import make_token
from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection


def handshake(box: Any, connection_id: str, **claims: Any) -> Any:
    return box.connector().connect(
        Handshake(
            connection_id=connection_id,
            connected_at_ms=int(box.clock() * 1000),
            headers={},
            query={"token": make_token("alice", **claims)},
        )
    )


def test_the_claimed_channels_are_subscribed_at_connect_and_receive_at_once() -> None:
    box, store, sender = make_container()
    claim = ["user:alice", "notifications:alice", "user:alice"]  # a repeat is one subscription
    result = handshake(box, "A=", channels=["user:alice", "notifications:*"], subscribe=claim)
    assert result.status == 200
    assert store.channels_of("A=") == ["notifications:alice", "user:alice"]
    open_connection(box, "B=", "bob")
    handler = box.message_handler(ENDPOINT)
    publish = {"action": "publish", "channel": "user:alice", "data": "hi", "id": "p"}
    assert handler.handle("B=", json.dumps(publish))["delivered"] == 1  # type: ignore[index]
    (message,) = sender.frames["A="]  # before alice sent any frame
    assert (message["type"], message["channel"], message["seq"]) == ("message", "user:alice", 1)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param(
            {"channels": ["room:*"], "subscribe": ["user:alice"]},
            "'subscribe' names 'user:alice', which 'channels' does not allow",
            id="not-allowed",
        ),
        pytest.param(
            {"subscribe": [f"c:{n}" for n in range(MAX_SUBSCRIBE_CLAIM + 1)]},
            "'subscribe' must be a list of at most 10 channels",
            id="too-many",
        ),
        pytest.param(
            {"subscribe": "user:alice"},
            "'subscribe' must be a list of at most 10 channels",
            id="str",
        ),
        pytest.param(
            {"subscribe": ["bad channel"]},
            "'subscribe' must hold channel names (1 to 128 of letters, digits, _-:.@=)",
            id="bad-name",
        ),
        pytest.param(
            {"subscribe": ["presence-lobby"]},
            "'subscribe' cannot name a presence channel",
            id="presence",
        ),
    ],
)
def test_a_bad_claim_is_refused_with_401_and_stores_nothing(
    claims: dict[str, Any], reason: str
) -> None:
    box, store, _sender = make_container()
    result = handshake(box, "A=", **claims)
    assert (result.status, result.reason) == (401, reason)
    assert store.get_connection("A=") is None
    assert store.channels_of("A=") == []


def test_ten_channels_are_accepted() -> None:
    box, store, _sender = make_container()
    claim = [f"c:{n}" for n in range(MAX_SUBSCRIBE_CLAIM)]
    assert handshake(box, "A=", subscribe=claim).status == 200
    assert store.channels_of("A=") == sorted(claim)
