"""An in-memory :class:`~switchboard.storage.Storage`, with the DynamoDB store's semantics.

Owns nothing but dicts: the twin of :class:`switchboard.store.Store` that the unit tests
run the logic on (no moto, no network). It keeps what the logic relies on: conditional
writes (a ``seq`` taken once, a ``jti`` spent once), the rate limit's register, the
history's ``limit``-then-filter reads, ordering by sort key, expiry decided on read, and
``go_live``'s transaction. Thread-safe (one lock), as fan-outs prune from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from switchboard.storage import (
    POSITION_KEPT_SECONDS,
    PUBLISH_KEY_SECONDS,
    RATE_WINDOW_MODULO,
    ChannelPosition,
    ConnectionRecord,
    DeletedConnection,
    FirstPublish,
    Member,
    PublishSlot,
    Subscriber,
)


@dataclass
class _Subscription:
    user_id: str | None
    ttl: int
    pending: bool = False
    live_from: int | None = None


@dataclass
class _Message:
    epoch: str
    frame: str
    ttl: int


@dataclass
class _Present:
    ttl: int
    connections: set[str] = field(default_factory=set)
    data: str | None = None


class MemoryStore:
    """Every storage role in memory (see :mod:`switchboard.storage` for the contract)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.connections: dict[str, ConnectionRecord] = {}
        self.registers: dict[str, list[int]] = {}  # the rate limit's p0, p1, ...
        self.subscriptions: dict[tuple[str, str], _Subscription] = {}
        self.history: dict[str, dict[int, _Message]] = {}
        self.presence: dict[tuple[str, str], _Present] = {}
        self.spent: dict[str, int] = {}
        self.publish_keys: dict[str, tuple[FirstPublish, int]] = {}  # key: (position, ttl)

    # ------------------------------------------------------------ connections
    def put_connection(self, record: ConnectionRecord) -> None:
        """Store a new connection (replacing one with the same id, register included)."""
        with self._lock:
            self.connections[record.connection_id] = record
            self.registers.pop(record.connection_id, None)

    def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        """The connection's record, or ``None``."""
        with self._lock:
            return self.connections.get(connection_id)

    def delete_connection(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and its subscriptions (by channel, as the index sorts)."""
        with self._lock:
            old = self.connections.pop(connection_id, None)
            self.registers.pop(connection_id, None)
            keys = sorted(key for key in self.subscriptions if key[1] == connection_id)
            pairs = [
                (channel, self.subscriptions.pop((channel, cid)).user_id) for channel, cid in keys
            ]
        return DeletedConnection(old.user_id if old is not None else None, pairs)

    def replace_capabilities(
        self, connection_id: str, capabilities: tuple[str, ...] | None, presence: str | None
    ) -> bool:
        """Replace the record's ``capabilities`` and ``presence`` if it is there."""
        with self._lock:
            record = self.connections.get(connection_id)
            if record is None:
                return False
            self.connections[connection_id] = replace(
                record, capabilities=capabilities, presence=presence
            )
            return True

    def connections_of(self, user_id: str) -> Iterator[str]:
        """Every connection id of one user, sorted."""
        with self._lock:
            ids = sorted(c.connection_id for c in self.connections.values() if c.user_id == user_id)
        yield from ids

    def take_publish_slot(self, connection_id: str, window: int, limit: int) -> PublishSlot:
        """Count a publish in the register of the last ``limit`` windows (``p0`` newest)."""
        with self._lock:
            record = self.connections.get(connection_id)
            if limit <= 0 or record is None:
                return PublishSlot(record, allowed=limit <= 0)
            register = self.registers.get(connection_id, [])
            current = window % RATE_WINDOW_MODULO
            if len(register) >= limit and register[limit - 1] == current:
                return PublishSlot(record, allowed=False)
            # p_n = if_not_exists(p_{n-1}, -1), p0 = the window, each from the old item
            older = [register[n - 1] if n - 1 < len(register) else -1 for n in range(1, limit)]
            self.registers[connection_id] = [current, *older]
            return PublishSlot(record, allowed=True)

    # ------------------------------------------------------------ subscriptions
    def subscribe(
        self, connection: ConnectionRecord, channel: str, *, pending: bool = False
    ) -> None:
        """Subscribe, replacing the whole subscription (``liveFrom`` included)."""
        with self._lock:
            self.subscriptions[(channel, connection.connection_id)] = _Subscription(
                connection.user_id, connection.expires_at, pending=pending
            )

    def go_live(self, connection_id: str, channel: str, through: int, *, check: bool) -> bool:
        """Make a pending subscription live after ``through`` (see the contract)."""
        with self._lock:
            subscription = self.subscriptions.get((channel, connection_id))
            if subscription is None:
                return True
            if check and through + 1 in self.history.get(channel, {}):
                return False
            subscription.pending = False
            subscription.live_from = through
            return True

    def channels_of(self, connection_id: str) -> list[str]:
        """The connection's subscribed channels, sorted (as the index sorts them)."""
        with self._lock:
            return sorted(channel for channel, cid in self.subscriptions if cid == connection_id)

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        """Remove one subscription (harmless if absent)."""
        with self._lock:
            self.subscriptions.pop((channel, connection_id), None)

    def subscribers(self, channel: str) -> Iterator[Subscriber]:
        """The subscriptions of ``channel``, by connection id."""
        with self._lock:
            found = sorted(
                (cid, sub) for (name, cid), sub in self.subscriptions.items() if name == channel
            )
            subscribers = [Subscriber(cid, sub.pending, sub.live_from) for cid, sub in found]
        yield from subscribers

    # ------------------------------------------------------------ history
    def append_message(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int
    ) -> bool:
        """Write the message at ``seq`` unless a message is there."""
        with self._lock:
            log = self.history.setdefault(channel, {})
            if seq in log:
                return False
            log[seq] = _Message(epoch, frame, expires_at + POSITION_KEPT_SECONDS)
            return True

    def append_message_once(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int, *, key: str, now: int
    ) -> bool | FirstPublish:
        """Both writes or neither: a live ``key`` wins over a taken ``seq``."""
        with self._lock:
            seen = self.publish_keys.get(key)
            if seen is not None and seen[1] >= now:
                return seen[0]
            if not self.append_message(channel, seq, epoch, frame, expires_at):
                return False
            self.publish_keys[key] = (FirstPublish(seq, epoch), now + PUBLISH_KEY_SECONDS)
            return True

    def _read(self, channel: str, seqs: list[int], limit: int, now: int) -> list[tuple[int, str]]:
        log = self.history.get(channel, {})
        return [
            (seq, log[seq].frame)
            for seq in seqs[:limit]
            if log[seq].ttl - POSITION_KEPT_SECONDS > now
        ]

    def history_after(
        self, channel: str, after: int, limit: int, now: int
    ) -> list[tuple[int, str]]:
        """Of the first ``limit`` messages after ``after``, the kept ones, oldest first."""
        with self._lock:
            seqs = sorted(seq for seq in self.history.get(channel, {}) if seq > after)
            return self._read(channel, seqs, limit, now)

    def history_before(
        self, channel: str, before: int, limit: int, now: int, *, oldest: int = 1
    ) -> list[tuple[int, str]]:
        """Of the last ``limit`` messages in ``[oldest, before)``, the kept ones, newest first."""
        if before <= oldest:
            return []
        with self._lock:
            log = self.history.get(channel, {})
            seqs = sorted((seq for seq in log if oldest <= seq < before), reverse=True)
            return self._read(channel, seqs, limit, now)

    def channel_position(self, channel: str, now: int) -> ChannelPosition:
        """The newest item's epoch (while its ``ttl`` holds) and seq."""
        with self._lock:
            log = self.history.get(channel)
            if not log:
                return ChannelPosition(epoch=None, seq=0)
            seq = max(log)
            newest = log[seq]
            return ChannelPosition(epoch=newest.epoch if newest.ttl > now else None, seq=seq)

    # ------------------------------------------------------------ presence
    def presence_join(
        self, channel: str, user_id: str, connection_id: str, data: str | None, expires_at: int
    ) -> bool:
        """Add the connection to the user's set; ``True`` if the set was empty."""
        with self._lock:
            present = self.presence.setdefault((channel, user_id), _Present(expires_at))
            was_absent = not present.connections
            present.connections.add(connection_id)
            present.ttl = expires_at
            if data is not None:
                present.data = data
            return was_absent

    def presence_leave(self, channel: str, user_id: str, connection_id: str) -> bool:
        """Remove the connection; ``True`` (and the member deleted) if it was the last."""
        with self._lock:
            present = self.presence.get((channel, user_id))
            if present is None or connection_id not in present.connections:
                return False
            present.connections.discard(connection_id)
            if present.connections:
                return False
            del self.presence[(channel, user_id)]
            return True

    def presence_members(self, channel: str, limit: int, now: int) -> list[Member]:
        """Up to ``limit`` live members, by user id."""
        with self._lock:
            found = sorted(
                (user, p) for (name, user), p in self.presence.items() if name == channel
            )
            members = [
                Member(user, present.data, len(present.connections))
                for user, present in found
                if present.ttl > now and present.connections
            ]
        return members[:limit]

    # ------------------------------------------------------------ tokens
    def spend_token(self, jti: str, expires_at: int) -> bool:
        """Record a single-use token unless it is recorded."""
        with self._lock:
            if jti in self.spent:
                return False
            self.spent[jti] = expires_at
            return True

    # ------------------------------------------------------------ for tests
    def expire_connection(self, connection_id: str, expires_at: int) -> None:
        """Give a stored connection another ``expires_at`` (tests of TTL on read)."""
        with self._lock:
            self.connections[connection_id] = replace(
                self.connections[connection_id], expires_at=expires_at
            )
