"""The in-memory store keeps the DynamoDB store's semantics (the logic's tests rely on it)."""

from __future__ import annotations

from switchboard.memory_store import MemoryStore
from switchboard.storage import POSITION_KEPT_SECONDS, ChannelPosition, ConnectionRecord, Member

NOW = 1_800_000_000


def record(
    connection_id: str = "A=", user: str = "alice", expires_at: int = NOW + 7200
) -> ConnectionRecord:
    return ConnectionRecord(connection_id, user, None, NOW * 1000, expires_at)


def test_a_seq_is_taken_once_and_the_position_is_the_newest_message() -> None:
    store = MemoryStore()
    assert store.channel_position("c", NOW) == ChannelPosition(None, 0)
    assert store.append_message("c", 1, "e1", "one", NOW + 100)
    assert not store.append_message("c", 1, "e2", "again", NOW + 100)
    assert store.append_message("c", 2, "e1", "two", NOW + 100)
    assert store.channel_position("c", NOW) == ChannelPosition("e1", 2)
    assert store.history_after("c", 0, 10, NOW) == [(1, "one"), (2, "two")]
    assert store.history_before("c", 3, 1, NOW) == [(2, "two")]
    assert store.history_before("c", 1, 5, NOW) == []


def test_expiry_is_decided_on_read_and_the_position_outlives_the_messages() -> None:
    store = MemoryStore()
    store.append_message("c", 1, "e", "one", NOW + 10)
    assert store.history_after("c", 0, 5, NOW + 11) == []  # no longer kept
    assert store.channel_position("c", NOW + 11) == ChannelPosition("e", 1)
    gone = NOW + 10 + POSITION_KEPT_SECONDS
    assert store.channel_position("c", gone) == ChannelPosition(None, 1)  # epoch lost, seq kept


def test_history_reads_apply_the_limit_before_dropping_what_is_not_kept() -> None:
    store = MemoryStore()
    store.append_message("c", 1, "e", "old", NOW - 10)  # already expired
    store.append_message("c", 2, "e", "new", NOW + 10)
    assert store.history_after("c", 0, 1, NOW) == []  # as a DynamoDB Query with Limit=1
    assert store.history_after("c", 0, 2, NOW) == [(2, "new")]


def test_the_rate_limit_register_lets_limit_publishes_through_per_window() -> None:
    store = MemoryStore()
    store.put_connection(record())
    assert [store.take_publish_slot("A=", 7, 2).allowed for _ in range(3)] == [True, True, False]
    assert store.take_publish_slot("A=", 8, 2).allowed  # the next window
    unknown = store.take_publish_slot("B=", 8, 2)
    assert (unknown.connection, unknown.allowed) == (None, False)
    assert store.take_publish_slot("B=", 8, 0).allowed  # no limit: only the read


def test_go_live_holds_only_while_the_channel_has_no_later_message() -> None:
    store = MemoryStore()
    store.subscribe(record(), "c", pending=True)
    assert [s.receives(1) for s in store.subscribers("c")] == [False]
    store.append_message("c", 1, "e", "one", NOW + 100)
    assert not store.go_live("A=", "c", 0, check=True)  # message 1 got in: replay it first
    assert store.go_live("A=", "c", 1, check=True)
    (live,) = store.subscribers("c")
    assert (live.pending, live.live_from, live.receives(1), live.receives(2)) == (
        False,
        1,
        False,
        True,
    )
    store.unsubscribe("A=", "c")
    assert store.go_live("A=", "c", 1, check=True)  # deleted meanwhile: stays deleted
    assert list(store.subscribers("c")) == []


def test_deleting_a_connection_removes_its_subscriptions_and_is_idempotent() -> None:
    store = MemoryStore()
    store.put_connection(record())
    store.put_connection(record("B=", "bob"))
    for channel in ("z", "a"):
        store.subscribe(record(), channel)
    store.subscribe(record("B=", "bob"), "a")
    deleted = store.delete_connection("A=")
    assert (deleted.user_id, deleted.subscriptions) == ("alice", [("a", "alice"), ("z", "alice")])
    assert [s.connection_id for s in store.subscribers("a")] == ["B="]
    again = store.delete_connection("A=")
    assert (again.user_id, again.subscriptions) == (None, [])
    assert list(store.connections_of("bob")) == ["B="]


def test_presence_counts_connections_and_skips_expired_members() -> None:
    store = MemoryStore()
    assert store.presence_join("p", "alice", "A1=", '{"n":1}', NOW + 100)
    assert not store.presence_join("p", "alice", "A2=", None, NOW + 100)
    assert store.presence_join("p", "old", "O=", None, NOW - 1)
    assert store.presence_members("p", 5, NOW) == [Member("alice", '{"n":1}', 2)]
    assert not store.presence_leave("p", "alice", "A1=")
    assert not store.presence_leave("p", "alice", "A1=")  # already gone
    assert store.presence_leave("p", "alice", "A2=")
    assert store.presence_members("p", 5, NOW) == []


def test_a_single_use_token_is_spent_once() -> None:
    store = MemoryStore()
    assert store.spend_token("jti-1", NOW + 60)
    assert not store.spend_token("jti-1", NOW + 60)
