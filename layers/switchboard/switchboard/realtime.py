"""Channels as a service: the one face of publishing, recovery, presence and forgetting.

Shared by the WebSocket protocol (:mod:`switchboard.actions`), the server-side publish
API (:mod:`switchboard.server_publish`), the fan-out worker and
:func:`switchboard.publishing.publish`. :class:`Realtime` owns no rule of its own: it
wires the parts together and names the operations callers use.

* :mod:`switchboard.publisher` - a message's ``seq``, its history item, its fan-out;
* :mod:`switchboard.recovery` - subscribe with ``since``/``rewind``, history pages;
* :mod:`switchboard.presence` - joins, leaves and members of presence channels;
* :mod:`switchboard.forgetting` - deleting gone connections, and delivery that announces
  the presence leaves of the connections it pruned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from switchboard.config import Settings
from switchboard.fanout import Fanout, FanoutReport
from switchboard.forgetting import Forgetting
from switchboard.presence import PresenceChannels
from switchboard.publisher import Publisher, PublishResult
from switchboard.recovery import (
    FROM_NOW,
    HISTORY_PAGE_DEFAULT,
    HISTORY_PAGE_MAX,
    Recovery,
    Resume,
    Send,
    Subscribed,
    history_page,
)
from switchboard.storage import ConnectionRecord, DeletedConnection, Storage

__all__ = [
    "HISTORY_PAGE_DEFAULT",
    "HISTORY_PAGE_MAX",
    "PublishResult",
    "Realtime",
    "Resume",
    "Subscribed",
]


class Realtime:
    """Publish, subscribe with recovery, presence, and forgetting connections."""

    def __init__(
        self,
        *,
        store: Storage,
        send: Send,
        settings: Settings,
        fanout_factory: Callable[[Callable[[str], object]], Fanout],
        on_publish: Callable[[str, FanoutReport], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.presence = PresenceChannels(store, settings, clock)
        self.forgetting = Forgetting(store, self.presence, fanout_factory)
        self.fanout = self.forgetting.fanout
        self.publisher = Publisher(
            store=store,
            deliver=self.forgetting.deliver,
            settings=settings,
            on_publish=on_publish,
            clock=clock,
        )
        self.recovery = Recovery(
            store=store,
            send=send,
            settings=settings,
            forget=self.forgetting.forget,
            clock=clock,
            sleep=sleep,
        )

    def publish(
        self, channel: str, data: Any, sender: str, idempotency_key: str | None = None
    ) -> PublishResult:
        """Give the message the channel's next seq, keep it, and deliver it (once per
        ``idempotency_key``, for the same sender and channel, within 5 minutes)."""
        return self.publisher.publish(channel, data, sender, idempotency_key)

    def send_to_user(self, user_id: str, data: Any, sender: str) -> FanoutReport:
        """Send a ``direct`` frame to every connection of ``user_id``."""
        return self.publisher.send_to_user(user_id, data, sender)

    def deliver(self, connection_ids: Iterable[str], data: bytes) -> FanoutReport:
        """Fan a frame out to these connections (the fan-out worker's queued batches)."""
        return self.forgetting.deliver(connection_ids, data)

    def subscribe(
        self, connection: ConnectionRecord, channel: str, resume: Resume = FROM_NOW
    ) -> Subscribed:
        """Subscribe (recovering with ``since``, rewinding with ``rewind``); on a presence
        channel, announce the user's ``join``."""
        result = self.recovery.subscribe(connection, channel, resume)
        if self.presence.is_presence(channel):
            frame = self.presence.join(connection, channel)
            if frame is not None:
                self.forgetting.deliver(self.presence.audience(channel), frame)
        return result

    def unsubscribe(self, connection: ConnectionRecord, channel: str) -> None:
        """Leave a channel (harmless when not subscribed); announces a presence leave."""
        self.store.unsubscribe(connection.connection_id, channel)
        if self.presence.is_presence(channel):
            frame = self.presence.leave(channel, connection.user_id, connection.connection_id)
            if frame is not None:
                self.forgetting.deliver(self.presence.audience(channel), frame)

    def history(self, channel: str, limit: int, before: int | None) -> dict[str, Any]:
        """A page of kept messages, oldest first, ending before ``before`` (default: now)."""
        return history_page(
            self.store, self.settings, channel, limit=limit, before=before, now=int(self.clock())
        )

    def is_presence(self, channel: str) -> bool:
        """Whether ``channel`` announces joins and leaves."""
        return self.presence.is_presence(channel)

    def members(self, channel: str) -> list[dict[str, Any]]:
        """The users present on ``channel``, with their data; capped."""
        return self.presence.members(channel)

    def forget(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and its subscriptions, announcing presence leaves."""
        return self.forgetting.forget(connection_id)
