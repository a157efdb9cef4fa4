"""A publish's DynamoDB work and what it guarantees: the rate register, the seq taken by
the message's own write, the position outliving the kept messages, and ``"ack": false``."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard import services
from switchboard.config import Settings
from switchboard.errors import ConfigurationError
from switchboard.store import POSITION_KEPT_SECONDS, ConnectionModel, HistoryModel
from tests.conftest import (
    CONNECTED_AT_MS,
    MANAGEMENT_ENDPOINT,
    ManagementApiFake,
    connect,
    rewire,
    send_frame,
)

ME = "Fz1xWfAGIAMCKsA="
BOB = "BOBxxxxxxxxxxxx="


@pytest.fixture
def two(management: ManagementApiFake) -> ManagementApiFake:
    connect(ME, "alice", channels=["room:*"])
    connect(BOB, "bob")
    send_frame(BOB, {"action": "subscribe", "channel": "room:a", "id": "s"})
    return management


def messages(management: ManagementApiFake, connection_id: str) -> list[dict[str, Any]]:
    return [f for f in management.replies(connection_id) if f["type"] == "message"]


def test_a_publish_without_ack_gets_no_reply_and_is_delivered(two: ManagementApiFake) -> None:
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": 1, "ack": False, "id": "q"})
    assert two.replies(ME) == []
    assert [(m["seq"], m["data"]) for m in messages(two, BOB)] == [(1, 1)]
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": 2, "ack": True, "id": "a"})
    assert two.replies(ME)[-1] == {
        "type": "ack",
        "id": "a",
        "channel": "room:a",
        "seq": 2,
        "epoch": messages(two, BOB)[0]["epoch"],
        "delivered": 1,
        "pruned": 0,
        "failed": 0,
    }


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param({"channel": "room:a", "data": 1, "ack": "no"}, "bad_request", id="not-bool"),
        pytest.param({"channel": "room:a", "data": 1, "ack": 0}, "bad_request", id="zero"),
        pytest.param({"channel": "news", "data": 1, "ack": False}, "forbidden", id="forbidden"),
        pytest.param({"channel": "room:a", "ack": False}, "bad_request", id="no-data"),
    ],
)
def test_a_publish_without_ack_still_gets_its_error(
    two: ManagementApiFake, frame: dict[str, Any], code: str
) -> None:
    send_frame(ME, {"action": "publish", "id": "e", **frame})
    reply = two.replies(ME)[-1]
    assert (reply["type"], reply["id"], reply["code"]) == ("error", "e", code)
    assert messages(two, BOB) == []


def _at(seconds: float, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    handler = services.message_handler(MANAGEMENT_ENDPOINT)
    monkeypatch.setattr(handler, "clock", lambda: CONNECTED_AT_MS / 1000 + seconds)
    monkeypatch.setattr(handler, "settings", Settings(publish_rate_limit=limit))


def _publish(n: int) -> None:
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": n, "id": f"p{n}"})


def test_the_rate_register_refuses_past_the_limit_in_each_window_only(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = []
    for second, count in ((0.1, 4), (1.2, 2), (3.5, 4), (3.9, 1), (7.0, 3)):
        _at(second, monkeypatch, limit=3)
        for n in range(count):
            _publish(n)
            codes.append(two.replies(ME)[-1].get("code", "ok"))
    # window 0: 3 then refused; window 1: 2 (the refused one was not counted);
    # window 3: 3 then refused, and refused again later in the same second; window 7: 3
    assert codes == [
        *["ok"] * 3,
        "rate_limited",
        *["ok"] * 2,
        *["ok"] * 3,
        "rate_limited",
        "rate_limited",
        *["ok"] * 3,
    ]
    assert [m["seq"] for m in messages(two, BOB)] == list(range(1, 12))


def test_an_unknown_connection_publishing_is_forbidden_not_rate_limited(
    management: ManagementApiFake, monkeypatch: pytest.MonkeyPatch, ddb_calls: list[str]
) -> None:
    for limit in (3, 0):
        _at(0.5, monkeypatch, limit=limit)
        ddb_calls.clear()
        _publish(1)
        assert management.replies(ME)[-1]["code"] == "forbidden"
        # the slot's update refuses (it never creates an item), then one read tells why
        assert ddb_calls == (["UpdateItem", "GetItem"] if limit else ["GetItem"])
    assert services.store().get_connection(ME) is None


def test_a_concurrent_publish_that_took_the_seq_sends_this_one_to_the_next(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = services.store()
    original = store.append_message
    raced: list[int] = []

    def racing(channel: str, seq: int, epoch: str, frame: str, expires_at: int) -> bool:
        if not raced:  # another publisher writes this seq first
            raced.append(seq)
            assert original(channel, seq, epoch, '{"other":true}', expires_at)
        return original(channel, seq, epoch, frame, expires_at)

    monkeypatch.setattr(store, "append_message", racing)
    _publish(7)
    assert raced == [1]
    assert two.replies(ME)[-1]["seq"] == 2
    kept = [(int(i.seq), i.frame) for i in HistoryModel.query("room:a", consistent_read=True)]
    assert [seq for seq, _ in kept] == [1, 2]
    assert kept[0][1] == '{"other":true}'
    assert [m["seq"] for m in messages(two, BOB)] == [2]


def test_a_channel_whose_seq_is_always_taken_first_answers_rate_limited(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.store(), "append_message", lambda *args: False)
    _publish(1)
    assert two.replies(ME)[-1] == {
        "type": "error",
        "id": "p1",
        "code": "rate_limited",
        "message": "'room:a' is too busy to take a message; try again",
    }
    assert messages(two, BOB) == []


def test_the_position_outlives_the_kept_messages_then_a_new_epoch_continues_the_seq(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    realtime = services.realtime(MANAGEMENT_ENDPOINT)
    for n in range(3):
        _publish(n)
    epoch = messages(two, BOB)[-1]["epoch"]
    now = realtime.clock()
    retention = services.settings().history_retention_seconds

    def subscribe_since_3(at: float) -> dict[str, Any]:
        rewire(clock=lambda: at)
        send_frame(
            BOB, {"action": "subscribe", "channel": "room:a", "since": 3, "epoch": epoch, "id": "r"}
        )
        reply: dict[str, Any] = two.replies(BOB)[-1]
        return reply

    # the messages are no longer kept, the position is: "nothing new" is recovered
    ack = subscribe_since_3(now + retention + 10)
    assert (ack["recovered"], ack["epoch"], ack["seq"]) == (True, epoch, 3)
    send_frame(BOB, {"action": "history", "channel": "room:a", "id": "h"})
    assert (two.replies(BOB)[-1]["messages"], two.replies(BOB)[-1]["seq"]) == ([], 3)
    # past the position's own lifetime: the channel has lost it
    ack = subscribe_since_3(now + retention + POSITION_KEPT_SECONDS + 10)
    assert (ack["recovered"], ack["epoch"], ack["seq"]) == (False, None, 3)
    _publish(4)
    latest = messages(two, BOB)[-1]
    assert latest["seq"] == 4
    assert latest["epoch"] not in (None, epoch)


def test_history_pages_stop_at_the_count_cap(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewire(history_size=3)
    for n in range(6):
        _publish(n)
    send_frame(BOB, {"action": "history", "channel": "room:a", "limit": 10, "id": "h"})
    page = two.replies(BOB)[-1]
    assert ([m["seq"] for m in page["messages"]], page["next"]) == ([4, 5, 6], 4)
    send_frame(BOB, {"action": "history", "channel": "room:a", "before": 4, "id": "h2"})
    assert two.replies(BOB)[-1]["messages"] == []


@pytest.mark.parametrize(("raw", "ok"), [("100", True), ("0", True), ("101", False)])
def test_the_publish_rate_limit_fits_one_update_expression(raw: str, ok: bool) -> None:
    if ok:
        assert Settings.from_env({"PUBLISH_RATE_LIMIT": raw}).publish_rate_limit == int(raw)
    else:
        with pytest.raises(ConfigurationError, match="PUBLISH_RATE_LIMIT must be at most 100"):
            Settings.from_env({"PUBLISH_RATE_LIMIT": raw})


def test_a_full_register_of_100_publishes_is_accepted_by_dynamodb(
    two: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The largest register (100 slots: a 100-term SET) is one expression DynamoDB takes,
    and it refuses the 101st publish of a window. The first 98 slots are written directly
    with the window the first publish stored (moto evaluates each 100-term expression in
    about half a second; 101 real publishes took a minute of the suite), so the 100th and
    101st publishes run against a register that 99 publishes filled."""
    _at(0.5, monkeypatch, limit=100)
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": 0, "ack": False})
    client = ConnectionModel._get_connection().connection.client
    table = ConnectionModel.Meta.table_name
    key = {"connectionId": {"S": ME}}
    window = client.get_item(TableName=table, Key=key)["Item"]["p0"]
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET " + ", ".join(f"p{n} = :w" for n in range(1, 99)),
        ExpressionAttributeValues={":w": window},
    )
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": 99, "id": "p100"})
    assert two.replies(ME)[-1]["type"] == "ack"  # the 100th of the window
    send_frame(ME, {"action": "publish", "channel": "room:a", "data": 100, "id": "p101"})
    assert two.replies(ME)[-1]["code"] == "rate_limited"
    assert [m["data"] for m in messages(two, BOB)] == [0, 99]
