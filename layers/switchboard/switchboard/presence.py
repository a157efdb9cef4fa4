"""Presence channels: who is present, and the ``join``/``leave`` frames that say so.

Owns the presence rules on top of :class:`~switchboard.storage.Presence`: which channels
announce (the ``presence-`` prefix), when a user joins (their first connection) or leaves
(their last), and the capped member list. It delivers nothing itself: it returns the frame
to broadcast and the audience (the channel's live subscribers); :mod:`switchboard.realtime`
hands both to the fan-out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from switchboard import protocol
from switchboard.config import Settings
from switchboard.errors import PayloadTooLargeError
from switchboard.storage import ConnectionRecord, Storage


class PresenceChannels:
    """Joins, leaves and members of presence channels."""

    def __init__(
        self, store: Storage, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    def is_presence(self, channel: str) -> bool:
        """Whether ``channel`` announces joins and leaves."""
        prefix = self.settings.presence_prefix
        return bool(prefix) and channel.startswith(prefix)

    def join(self, connection: ConnectionRecord, channel: str) -> bytes | None:
        """Count the connection as present; the ``join`` frame if its user just arrived."""
        if not self.store.presence_join(
            channel,
            connection.user_id,
            connection.connection_id,
            connection.presence,
            connection.expires_at,
        ):
            return None
        data = json.loads(connection.presence) if connection.presence else None
        return protocol.encode(protocol.presence_join(channel, connection.user_id, data))

    def leave(self, channel: str, user_id: str, connection_id: str) -> bytes | None:
        """Count the connection as gone; the ``leave`` frame if it was its user's last."""
        if not self.store.presence_leave(channel, user_id, connection_id):
            return None
        return protocol.encode(protocol.presence_leave(channel, user_id))

    def audience(self, channel: str) -> Iterator[str]:
        """Who hears a ``join`` or ``leave``: the channel's live subscribers."""
        return (sub.connection_id for sub in self.store.subscribers(channel) if not sub.pending)

    def members(self, channel: str) -> list[dict[str, Any]]:
        """The users present on ``channel``, with their data; capped."""
        cap = self.settings.presence_max_members
        members = self.store.presence_members(channel, cap + 1, int(self.clock()))
        if len(members) > cap:
            raise PayloadTooLargeError(
                f"more than {cap} members on '{channel}'; use join and leave events instead"
            )
        return [
            protocol.member(member.user_id, member.data, member.connections) for member in members
        ]
