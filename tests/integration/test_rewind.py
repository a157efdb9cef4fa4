"""Rewind on subscribe: the last N kept messages before the ack, then live, none twice."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import services
from tests.conftest import MANAGEMENT_ENDPOINT, ManagementApiFake, connect, rewire, send_frame
from tests.integration.test_recovery import ALICE_1, BOB, frames, messages


@pytest.fixture
def two(management: ManagementApiFake) -> ManagementApiFake:
    connect(ALICE_1, "alice")
    connect(BOB, "bob")
    return management


def publish(channel: str, count: int, prefix: str = "m") -> None:
    for n in range(count):
        send_frame(BOB, {"action": "publish", "channel": channel, "data": f"{prefix}{n}"})


def test_rewind_sends_the_last_n_kept_messages_in_order_then_acks_then_live(
    two: ManagementApiFake,
) -> None:
    publish("room:r", 8)
    epoch = frames(two, BOB)[-1]["epoch"]
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:r", "rewind": 3, "id": "s"})
    send_frame(BOB, {"action": "publish", "channel": "room:r", "data": "live"})

    got = frames(two, ALICE_1)
    assert [f["type"] for f in got] == ["message"] * 3 + ["ack", "message"]
    assert [(m["seq"], m["data"]) for m in messages(two, ALICE_1)] == [
        (6, "m5"),
        (7, "m6"),
        (8, "m7"),
        (9, "live"),
    ]
    assert got[3] == {
        "type": "ack",
        "id": "s",
        "channel": "room:r",
        "epoch": epoch,
        "seq": 8,
        "rewound": 3,
    }


def test_rewind_beyond_what_is_kept_sends_all_kept(two: ManagementApiFake) -> None:
    publish("room:few", 2)
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:few", "rewind": 100, "id": "s"})
    assert [m["seq"] for m in messages(two, ALICE_1)] == [1, 2]
    ack = frames(two, ALICE_1)[-1]
    assert (ack["type"], ack["seq"], ack["rewound"]) == ("ack", 2, 2)


def test_rewind_stops_at_the_count_cap_and_the_retention(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    realtime = rewire(history_size=3)
    publish("room:cap", 6)
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:cap", "rewind": 5, "id": "s"})
    assert [m["seq"] for m in messages(two, ALICE_1)] == [4, 5, 6]  # 1..3 fell out of the cap
    assert frames(two, ALICE_1)[-1]["rewound"] == 3

    day_later = realtime.clock() + services.settings().history_retention_seconds + 1
    rewire(clock=lambda: day_later)
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:cap", "rewind": 5, "id": "t"})
    ack = frames(two, ALICE_1)[-1]
    assert (ack["id"], ack["seq"], ack["rewound"]) == ("t", 6, 0)
    assert len(messages(two, ALICE_1)) == 3  # nothing expired was sent


@pytest.mark.parametrize("channel_messages", [0, 4], ids=["empty channel", "four kept"])
def test_rewind_zero_sends_nothing_and_acks_rewound_zero(
    two: ManagementApiFake, channel_messages: int
) -> None:
    publish("room:z", channel_messages)
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:z", "rewind": 0, "id": "s"})
    assert frames(two, ALICE_1)[-1] == {
        "type": "ack",
        "id": "s",
        "channel": "room:z",
        "epoch": frames(two, BOB)[-1]["epoch"] if channel_messages else None,
        "seq": channel_messages,
        "rewound": 0,
    }
    assert messages(two, ALICE_1) == []
    send_frame(BOB, {"action": "publish", "channel": "room:z", "data": "live"})
    assert [m["seq"] for m in messages(two, ALICE_1)] == [channel_messages + 1]


def test_rewind_on_an_empty_channel_sends_nothing(two: ManagementApiFake) -> None:
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:none", "rewind": 10, "id": "s"})
    assert frames(two, ALICE_1) == [
        {"type": "ack", "id": "s", "channel": "room:none", "epoch": None, "seq": 0, "rewound": 0}
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"rewind": 2, "since": 1}, "'rewind' cannot be combined with 'since'", id="since"
        ),
        pytest.param({"rewind": 101}, "'rewind' must be at most 100", id="over 100"),
        pytest.param({"rewind": -1}, "'rewind' must be a non-negative integer", id="negative"),
        pytest.param({"rewind": 2.5}, "'rewind' must be a non-negative integer", id="fraction"),
        pytest.param({"rewind": 2.0}, "'rewind' must be a non-negative integer", id="float"),
        pytest.param({"rewind": "5"}, "'rewind' must be a non-negative integer", id="string"),
        pytest.param({"rewind": True}, "'rewind' must be a non-negative integer", id="boolean"),
        pytest.param({"rewind": [3]}, "'rewind' must be a non-negative integer", id="list"),
    ],
)
def test_a_bad_rewind_is_a_bad_request_and_subscribes_nothing(
    two: ManagementApiFake, fields: dict[str, Any], message: str
) -> None:
    publish("room:bad", 2)
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:bad", "id": "s", **fields})
    assert frames(two, ALICE_1) == [
        {"type": "error", "id": "s", "code": "bad_request", "message": message}
    ]
    send_frame(BOB, {"action": "publish", "channel": "room:bad", "data": "live"})
    assert messages(two, ALICE_1) == []


def test_publishes_racing_the_rewind_are_delivered_once_in_order(
    two: ManagementApiFake,
) -> None:
    realtime = services.realtime(MANAGEMENT_ENDPOINT)
    publish("room:race", 6)
    original_send = realtime.recovery.send
    racing = {"left": 3}

    def send_and_race(connection_id: str, data: bytes) -> None:
        original_send(connection_id, data)
        if connection_id == ALICE_1 and racing["left"]:
            racing["left"] -= 1  # another publisher gets in while the rewind is sent
            send_frame(BOB, {"action": "publish", "channel": "room:race", "data": "race"})

    realtime.recovery.send = send_and_race
    try:
        send_frame(ALICE_1, {"action": "subscribe", "channel": "room:race", "rewind": 4, "id": "s"})
    finally:
        realtime.recovery.send = original_send
    publish("room:race", 2, prefix="after")

    got = frames(two, ALICE_1)
    seqs = [m["seq"] for m in messages(two, ALICE_1)]
    assert seqs == list(range(3, 12))  # 3..6 rewound, 7..9 raced, 10..11 live: each once
    ack_at = [f["type"] for f in got].index("ack")
    assert ack_at == 7  # the rewound and raced messages all came before the ack
    assert (got[ack_at]["seq"], got[ack_at]["rewound"]) == (9, 7)


def test_dynamodb_operations_of_a_rewind(two: ManagementApiFake, ddb_calls: list[str]) -> None:
    publish("room:ops", 5)
    ddb_calls.clear()
    send_frame(ALICE_1, {"action": "subscribe", "channel": "room:ops", "rewind": 2})
    # connection, position (the newest message), the last N messages, pending subscription,
    # go live (a transaction checking that no message follows the rewound ones); no Scan
    assert ddb_calls == ["GetItem", "Query", "Query", "PutItem", "TransactWriteItems"]
    assert [m["seq"] for m in messages(two, ALICE_1)] == [4, 5]
