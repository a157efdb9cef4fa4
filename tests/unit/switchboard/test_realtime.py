"""Publishing, recovery, rewind, presence and forgetting on the in-memory store."""

from __future__ import annotations

import pytest

from switchboard.errors import ChannelBusyError, PayloadTooLargeError
from switchboard.realtime import Resume
from tests.unit.switchboard.fakes import (
    ENDPOINT,
    Clock,
    FakeSender,
    make_container,
    open_connection,
)

ROOM = "room:a"
PRESENT = "presence-room"


def test_a_publish_takes_the_next_seq_and_reaches_live_subscribers_only() -> None:
    box, store, sender = make_container()
    realtime = box.realtime(ENDPOINT)
    alice, bob = open_connection(box, "A=", "alice"), open_connection(box, "B=", "bob")
    realtime.subscribe(alice, ROOM)
    store.subscribe(bob, ROOM, pending=True)
    first = realtime.publish(ROOM, {"n": 1}, "carol")
    second = realtime.publish(ROOM, {"n": 2}, "carol")
    assert (first.seq, second.seq, first.epoch == second.epoch) == (1, 2, True)
    assert first.as_dict() == {
        "channel": ROOM,
        "seq": 1,
        "epoch": first.epoch,
        "delivered": 1,
        "pruned": 0,
        "failed": 0,
    }
    got = sender.of_type("A=", "message")
    assert [(m["seq"], m["data"], m["from"]) for m in got] == [
        (1, {"n": 1}, "carol"),
        (2, {"n": 2}, "carol"),
    ]
    assert sender.frames["B="] == []  # pending: the replay sends it


def test_a_seq_always_taken_first_is_channel_busy() -> None:
    box, store, _sender = make_container()
    store.append_message = lambda *args, **kwargs: False  # type: ignore[method-assign]
    with pytest.raises(ChannelBusyError):
        box.realtime(ENDPOINT).publish(ROOM, 1, "carol")


def test_a_resume_replays_what_was_missed_then_goes_live() -> None:
    box, _store, sender = make_container()
    realtime = box.realtime(ENDPOINT)
    for n in range(4):
        realtime.publish(ROOM, n, "carol")
    alice = open_connection(box, "A=")
    epoch = box.store.channel_position(ROOM, int(box.clock())).epoch
    result = realtime.subscribe(alice, ROOM, Resume(since=1, epoch=epoch))
    assert result.as_dict() == {"channel": ROOM, "epoch": epoch, "seq": 4, "recovered": True}
    assert [m["seq"] for m in sender.of_type("A=", "message")] == [2, 3, 4]
    realtime.publish(ROOM, "live", "carol")
    assert [m["seq"] for m in sender.of_type("A=", "message")] == [2, 3, 4, 5]


def test_a_resume_past_the_retention_or_epoch_is_not_recovered_and_replays_nothing() -> None:
    clock = Clock()
    box, _store, sender = make_container(clock=clock)
    realtime = box.realtime(ENDPOINT)
    for n in range(3):
        realtime.publish(ROOM, n, "carol")
    alice = open_connection(box, "A=")
    assert realtime.subscribe(alice, ROOM, Resume(since=1, epoch="other")).recovered is False
    clock.now += box.settings.history_retention_seconds + 1
    assert realtime.subscribe(alice, ROOM, Resume(since=1)).recovered is False
    assert sender.of_type("A=", "message") == []


def test_a_rewind_sends_the_last_kept_messages_up_to_the_count_cap() -> None:
    box, _store, sender = make_container(history_size=3)
    realtime = box.realtime(ENDPOINT)
    for n in range(6):
        realtime.publish(ROOM, n, "carol")
    result = realtime.subscribe(open_connection(box, "A="), ROOM, Resume(rewind=5))
    assert (result.seq, result.rewound) == (6, 3)
    assert [m["seq"] for m in sender.of_type("A=", "message")] == [4, 5, 6]


def test_history_pages_back_from_the_newest() -> None:
    box, _store, _sender = make_container()
    realtime = box.realtime(ENDPOINT)
    for n in range(5):
        realtime.publish(ROOM, n, "carol")
    page = realtime.history(ROOM, 2, None)
    assert ([m["seq"] for m in page["messages"]], page["next"], page["seq"]) == ([4, 5], 4, 5)
    assert realtime.history(ROOM, 0, None)["messages"] == []


def test_presence_announces_a_users_first_join_and_last_leave() -> None:
    box, _store, sender = make_container()
    realtime = box.realtime(ENDPOINT)
    watcher = open_connection(box, "W=", "watcher")
    realtime.subscribe(watcher, PRESENT)
    tab1 = open_connection(box, "A1=", "alice", presence={"name": "Alice"})
    tab2 = open_connection(box, "A2=", "alice", presence={"name": "Alice"})
    realtime.subscribe(tab1, PRESENT)
    realtime.subscribe(tab2, PRESENT)
    assert sorted(m["user"] for m in realtime.members(PRESENT)) == ["alice", "watcher"]
    realtime.unsubscribe(tab1, PRESENT)
    realtime.forget("A2=")
    events = [f for f in sender.frames["W="] if f["type"] in ("join", "leave")]
    assert events == [
        {"type": "join", "channel": PRESENT, "user": "watcher", "data": None},
        {"type": "join", "channel": PRESENT, "user": "alice", "data": {"name": "Alice"}},
        {"type": "leave", "channel": PRESENT, "user": "alice"},
    ]


def test_a_member_list_over_the_cap_is_refused() -> None:
    box, _store, _sender = make_container(presence_max_members=1)
    realtime = box.realtime(ENDPOINT)
    for cid, user in (("A=", "alice"), ("B=", "bob")):
        realtime.subscribe(open_connection(box, cid, user), PRESENT)
    with pytest.raises(PayloadTooLargeError):
        realtime.members(PRESENT)


def test_a_gone_subscriber_is_pruned_and_its_leave_announced_without_being_asked() -> None:
    sender = FakeSender()
    box, store, _ = make_container(sender=sender)
    realtime = box.realtime(ENDPOINT)
    watcher = open_connection(box, "W=", "watcher")
    gone = open_connection(box, "G=", "ghost")
    realtime.subscribe(watcher, PRESENT)
    realtime.subscribe(gone, PRESENT)
    sender.gone.add("G=")
    report = realtime.publish(PRESENT, "hello", "server").report
    assert (report.delivered, report.pruned) == (1, 1)
    assert store.get_connection("G=") is None
    assert sender.frames["W="][-1] == {"type": "leave", "channel": PRESENT, "user": "ghost"}


def test_throttled_posts_are_retried_and_direct_messages_reach_every_tab() -> None:
    sender = FakeSender()
    box, _store, _ = make_container(sender=sender)
    realtime = box.realtime(ENDPOINT)
    open_connection(box, "A1=", "alice")
    open_connection(box, "A2=", "alice")
    sender.throttled["A1="] = 1
    report = realtime.send_to_user("alice", {"hi": 1}, "server")
    assert (report.delivered, report.retries) == (2, 1)
    assert [f["type"] for f in sender.frames["A1="]] == ["direct"]
    with pytest.raises(PayloadTooLargeError):
        realtime.send_to_user("alice", "x" * 200_000, "server")
