"""Presence: join and leave per user, the member list, and pruning."""

from __future__ import annotations

import pytest

from switchboard import services
from switchboard.store import PresenceModel
from tests.conftest import (
    CONNECTED_AT_MS,
    MANAGEMENT_ENDPOINT,
    ManagementApiFake,
    connect,
    disconnect,
    rewire,
    send_frame,
)
from tests.integration.test_recovery import frames

ROOM = "presence-room:1"
A1, A2, B, C = "A1xxxxxxxxxxxx=", "A2xxxxxxxxxxxx=", "Bxxxxxxxxxxxxx=", "Cxxxxxxxxxxxxx="


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test here runs on both senders: the delivery engine and the boto3 client."""
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ["fast", "boto3"], indirect=True)


def events(management: ManagementApiFake, connection_id: str) -> list[tuple[str, str]]:
    return [
        (f["type"], f["user"])
        for f in frames(management, connection_id)
        if f["type"] in {"join", "leave"}
    ]


@pytest.fixture
def room(management: ManagementApiFake) -> ManagementApiFake:
    connect(B, "bob", presence={"name": "Bob"})
    send_frame(B, {"action": "subscribe", "channel": ROOM})
    return management


def test_join_and_leave_seen_by_another_subscriber(room: ManagementApiFake) -> None:
    connect(A1, "alice", presence={"name": "Alice", "avatar": "a.png"})
    send_frame(A1, {"action": "subscribe", "channel": ROOM})
    join = next(f for f in frames(room, B) if f["type"] == "join" and f["user"] == "alice")
    assert join == {
        "type": "join",
        "channel": ROOM,
        "user": "alice",
        "data": {"name": "Alice", "avatar": "a.png"},
    }
    send_frame(A1, {"action": "unsubscribe", "channel": ROOM})
    assert events(room, B)[-1] == ("leave", "alice")


def test_two_tabs_make_one_join_and_closing_one_no_leave(room: ManagementApiFake) -> None:
    connect(A1, "alice")
    connect(A2, "alice")
    send_frame(A1, {"action": "subscribe", "channel": ROOM})
    send_frame(A2, {"action": "subscribe", "channel": ROOM})
    assert events(room, B).count(("join", "alice")) == 1
    disconnect(A1)
    assert ("leave", "alice") not in events(room, B)
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    members = {m["user"]: m for m in frames(room, B)[-1]["members"]}
    assert members["alice"]["connections"] == 1
    disconnect(A2)
    assert events(room, B)[-1] == ("leave", "alice")
    # disconnect twice: no second leave
    disconnect(A2)
    assert events(room, B).count(("leave", "alice")) == 1


def test_member_list_with_data(room: ManagementApiFake) -> None:
    connect(A1, "alice", presence={"name": "Alice"})
    send_frame(A1, {"action": "subscribe", "channel": ROOM})
    send_frame(A1, {"action": "presence", "channel": ROOM, "id": "m"})
    reply = frames(room, A1)[-1]
    assert reply["type"] == "ack"
    assert reply["id"] == "m"
    assert sorted(reply["members"], key=lambda m: m["user"]) == [
        {"user": "alice", "data": {"name": "Alice"}, "connections": 1},
        {"user": "bob", "data": {"name": "Bob"}, "connections": 1},
    ]


def test_a_pruned_connection_leaves_the_member_list(room: ManagementApiFake) -> None:
    connect(A1, "alice")
    connect(C, "carol")
    send_frame(A1, {"action": "subscribe", "channel": ROOM})
    send_frame(C, {"action": "subscribe", "channel": ROOM})
    room.gone.add(C)  # carol's socket died without a $disconnect
    send_frame(B, {"action": "publish", "channel": ROOM, "data": "hello"})
    assert frames(room, B)[-1]["pruned"] == 1
    assert ("leave", "carol") in events(room, A1)
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    assert sorted(m["user"] for m in frames(room, B)[-1]["members"]) == ["alice", "bob"]


def test_expired_members_do_not_linger(
    room: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    realtime = services.realtime(MANAGEMENT_ENDPOINT)
    later = realtime.clock() + 10 * 3600  # past every connection's two-hour TTL
    rewire(clock=lambda: later)
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    assert frames(room, B)[-1]["members"] == []


def test_member_list_is_capped(room: ManagementApiFake, monkeypatch: pytest.MonkeyPatch) -> None:
    rewire(presence_max_members=2)
    for n, cid in enumerate(["P1xxxxxxxxxxxx=", "P2xxxxxxxxxxxx="]):
        connect(cid, f"user{n}")
        send_frame(cid, {"action": "subscribe", "channel": ROOM})
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    reply = frames(room, B)[-1]
    assert reply["code"] == "payload_too_large"
    assert "more than 2 members" in reply["message"]


def test_presence_on_a_plain_channel_is_a_bad_request(room: ManagementApiFake) -> None:
    send_frame(B, {"action": "presence", "channel": "room:plain", "id": "m"})
    assert frames(room, B)[-1]["code"] == "bad_request"


def test_a_too_large_presence_claim_is_refused(aws: None) -> None:
    from switchboard.lifecycle import Handshake
    from tests.conftest import make_token

    result = services.connector().connect(
        Handshake(
            connection_id=A1,
            connected_at_ms=CONNECTED_AT_MS,
            headers={},
            query={"token": make_token("alice", presence={"bio": "x" * 2000})},
        )
    )
    assert result.status == 401
    assert PresenceModel.count(ROOM) == 0


def test_expired_entries_neither_shorten_the_list_nor_hide_the_cap(
    room: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):  # expired, not yet deleted by DynamoDB's TTL; they sort first
        PresenceModel(ROOM, f"a-expired-{n}", connections={"Xx="}, ttl=1).save()
    connect(A1, "alice")
    send_frame(A1, {"action": "subscribe", "channel": ROOM})
    rewire(presence_max_members=2)
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    assert sorted(m["user"] for m in frames(room, B)[-1]["members"]) == ["alice", "bob"]
    rewire(presence_max_members=1)
    send_frame(B, {"action": "presence", "channel": ROOM, "id": "m"})
    assert frames(room, B)[-1]["code"] == "payload_too_large"
