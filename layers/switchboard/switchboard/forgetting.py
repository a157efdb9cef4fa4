"""Forgetting connections, and delivery that announces what it forgot.

Owns what happens when a connection is gone: ``$disconnect``, a 410 from the Management
API during a fan-out (pruning), or a replay that hit a gone socket. The connection and its
subscriptions are deleted, and every presence channel it was the user's last connection
on hears a ``leave``. A prune runs inside a fan-out, so its leaves are queued and
announced when that fan-out is done: :meth:`Forgetting.deliver` is the fan-out with that
step included, so no caller has to remember it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from switchboard.fanout import Fanout, FanoutReport
from switchboard.presence import PresenceChannels
from switchboard.storage import DeletedConnection, Storage

ANNOUNCE_ROUNDS = 3  # leaves found while announcing leaves, bounded


class _Leaves:
    """``leave`` frames waiting for their fan-out to finish, with their channel."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def add(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            self._pending.extend(items)

    def take(self) -> list[tuple[str, bytes]]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken


class Forgetting:
    """Deletes gone connections and delivers frames, announcing the leaves in between."""

    def __init__(
        self,
        store: Storage,
        presence: PresenceChannels,
        fanout_factory: Callable[[Callable[[str], object]], Fanout],
    ) -> None:
        self.store = store
        self.presence = presence
        self._leaves = _Leaves()
        self.fanout = fanout_factory(self._queue_forget)

    def forget(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and its subscriptions, announcing presence leaves.

        Returns its user and subscriptions. Safe to run twice.
        """
        deleted = self._queue_forget(connection_id)
        self._announce_leaves()
        return deleted

    def deliver(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Fan ``data`` out, then announce the leaves of the connections it pruned."""
        report = self.fanout.deliver(connection_ids, data)
        self._announce_leaves()
        return report

    def _queue_forget(self, connection_id: str) -> DeletedConnection:
        deleted = self.store.delete_connection(connection_id)
        leaves = []
        for channel, user_id in deleted.subscriptions:
            if user_id and self.presence.is_presence(channel):
                frame = self.presence.leave(channel, user_id, connection_id)
                if frame is not None:
                    leaves.append((channel, frame))
        self._leaves.add(leaves)
        return deleted

    def _announce_leaves(self) -> None:
        """Broadcast the queued leaves (their fan-outs may prune more: bounded rounds)."""
        for _round in range(ANNOUNCE_ROUNDS):
            leaves = self._leaves.take()
            if not leaves:
                return
            for channel, frame in leaves:
                self.fanout.deliver(self.presence.audience(channel), frame)
