"""Channels as a service: publish with history, recovering subscribes, presence.

Shared by the WebSocket protocol (:mod:`switchboard.actions`), the server-side
publish API (``functions/publish``) and :func:`switchboard.publishing.publish`.

Recovery guarantee: every published message gets the channel's next ``seq`` and is
kept for ``HISTORY_RETENTION_SECONDS`` (and at most the last ``HISTORY_SIZE`` of a
channel). A subscribe with ``since`` replays every message after ``since`` in order,
then acks ``recovered: true``; if any of them is no longer kept (or the epoch
differs, or more than ``REPLAY_LIMIT`` are missing), it replays nothing and acks
``recovered: false``. A recovering subscription is *pending* while it replays, then
made live in one transaction that holds only while the channel's ``seq`` is the last
one replayed: messages up to it come from the replay, later ones live, none twice.

A subscribe with ``rewind: N`` goes through the same seam: it replays the last N kept
messages (fewer when fewer are kept), then any published while it replayed, then acks
``rewound`` with the count sent before the ack.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from switchboard import protocol
from switchboard.config import Settings
from switchboard.errors import (
    ChannelBusyError,
    ConnectionGoneError,
    DeliveryError,
    PayloadTooLargeError,
)
from switchboard.fanout import Fanout, FanoutReport, post_retrying
from switchboard.store import ConnectionRecord, DeletedConnection, Store, new_epoch

logger = logging.getLogger(__name__)

GO_LIVE_ATTEMPTS = 20
SEQ_ATTEMPTS = 20
TAIL_RETRIES = 5
TAIL_RETRY_SECONDS = 0.02

Send = Callable[[str, bytes], None]


# A page of history (the history action and GET /channels/{channel}/history).
HISTORY_PAGE_DEFAULT = 50
HISTORY_PAGE_MAX = 100


@dataclass(frozen=True)
class PublishResult:
    """What a publish did: the message's position and its delivery report."""

    channel: str
    seq: int
    epoch: str | None
    report: FanoutReport

    def as_dict(self) -> dict[str, Any]:
        """The fields of a publish ``ack`` (and of the HTTP API's answer)."""
        return {
            "channel": self.channel,
            "seq": self.seq,
            "epoch": self.epoch,
            **self.report.as_dict(),
        }


@dataclass(frozen=True)
class Subscribed:
    """The outcome of a subscribe: the position the client resumes from."""

    channel: str
    epoch: str | None
    seq: int
    recovered: bool | None = None
    replayed: int = 0
    rewound: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields of a subscribe ``ack``."""
        fields: dict[str, Any] = {"channel": self.channel, "epoch": self.epoch, "seq": self.seq}
        if self.recovered is not None:
            fields["recovered"] = self.recovered
        if self.rewound is not None:
            fields["rewound"] = self.rewound
        return fields


@dataclass
class _Leaves:
    pending: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        with self.lock:
            self.pending.extend(items)

    def take(self) -> list[tuple[str, str]]:
        with self.lock:
            taken, self.pending = self.pending, []
        return taken


class Realtime:
    """Publish, subscribe with recovery, presence, and forgetting connections."""

    def __init__(
        self,
        *,
        store: Store,
        send: Send,
        settings: Settings,
        fanout_factory: Callable[[Callable[[str], object]], Fanout],
        on_publish: Callable[[str, FanoutReport], None] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.send = send
        self.settings = settings
        self.on_publish = on_publish or (lambda _channel, _report: None)
        self.clock = clock
        self.sleep = sleep
        self._leaves = _Leaves()
        self.fanout = fanout_factory(self._prune)

    # ------------------------------------------------------------ publishing
    def publish(self, channel: str, data: Any, sender: str) -> PublishResult:
        """Give the message the channel's next seq, keep it, and deliver it.

        The seq is taken by writing the message at it (a conditional put): a concurrent
        publish that wrote there first sends this one to the seq after, up to
        ``SEQ_ATTEMPTS`` times.
        """
        protocol.check_message_size(channel, data, sender)
        now_ms = int(self.clock() * 1000)
        expires_at = now_ms // 1000 + self.settings.history_retention_seconds
        for _attempt in range(SEQ_ATTEMPTS):
            position = self.store.channel_position(channel, now_ms // 1000)
            seq, epoch = position.seq + 1, position.epoch or new_epoch()
            message = protocol.message(channel, data, seq, sender, now_ms, epoch=epoch)
            frame = protocol.encode(message)
            if self.store.append_message(channel, seq, epoch, frame.decode(), expires_at):
                break
        else:
            raise ChannelBusyError(f"'{channel}' is too busy to take a message; try again")
        recipients = (
            sub.connection_id for sub in self.store.subscribers(channel) if sub.receives(seq)
        )
        report = self.fanout.deliver(recipients, frame)
        self.on_publish(channel, report)
        self.announce_leaves()
        return PublishResult(channel, seq, epoch, report)

    def send_to_user(self, user_id: str, data: Any, sender: str) -> FanoutReport:
        """Send a ``direct`` frame to every connection of ``user_id``."""
        frame = {"type": "direct", "data": data, "from": sender, "ts": int(self.clock() * 1000)}
        encoded = protocol.encode(frame)
        if len(encoded) > protocol.MAX_FRAME_BYTES:
            raise PayloadTooLargeError(
                f"the frame would be {len(encoded)} bytes; the limit is {protocol.MAX_FRAME_BYTES}"
            )
        report = self.fanout.deliver(self.store.connections_of(user_id), encoded)
        self.announce_leaves()
        return report

    # ------------------------------------------------------------ subscribing
    def subscribe(
        self,
        connection: ConnectionRecord,
        channel: str,
        since: int | None = None,
        epoch: str | None = None,
        rewind: int | None = None,
    ) -> Subscribed:
        """Subscribe; with ``since``, replay what was missed or say it cannot; with
        ``rewind`` (never with ``since``), first send the last ``rewind`` kept messages."""
        result = None
        if since is not None:
            result = self._recover(connection, channel, since, epoch)
        elif rewind:
            result = self._rewind(connection, channel, rewind)
        if result is None:
            self.store.subscribe(connection, channel)
            position = self.store.channel_position(channel, int(self.clock()))
            recovered = None
            if since is not None:
                recovered = since == position.seq and epoch in (None, position.epoch)
            rewound = None if rewind is None else 0
            result = Subscribed(channel, position.epoch, position.seq, recovered, rewound=rewound)
        if self.is_presence(channel):
            self._join(connection, channel)
        return result

    def _recover(
        self, connection: ConnectionRecord, channel: str, since: int, epoch: str | None
    ) -> Subscribed | None:
        position = self.store.channel_position(channel, int(self.clock()))
        if epoch is not None and epoch != position.epoch:
            return None
        if since > position.seq or position.seq - since > self.settings.replay_limit:
            return None
        # Nothing missed (since == seq) goes the same way: a publish that gets in before the
        # subscription is live is replayed, not left to a plain subscribe that would answer
        # recovered: false for a message the client is about to receive.
        missed = self._kept_between(channel, since, position.seq)
        if missed is None:
            return None
        replayed_through = self._replay_then_go_live(connection, channel, missed, since)
        return Subscribed(
            channel,
            position.epoch,
            replayed_through,
            recovered=True,
            replayed=replayed_through - since,
        )

    def _rewind(self, connection: ConnectionRecord, channel: str, count: int) -> Subscribed:
        """Send the last ``count`` kept messages, then go live at the recovery's seam."""
        now = int(self.clock())
        position = self.store.channel_position(channel, now)
        oldest = max(1, position.seq - self.settings.history_size + 1)  # the count cap
        newest_first = self.store.history_before(
            channel, position.seq + 1, count, now, oldest=oldest
        )
        kept: list[tuple[int, str]] = []
        for seq, frame in newest_first:  # only the unbroken run that ends at the top
            if seq != position.seq - len(kept):
                break
            kept.append((seq, frame))
        kept.reverse()
        since = position.seq - len(kept)
        replayed_through = self._replay_then_go_live(connection, channel, kept, since)
        return Subscribed(
            channel, position.epoch, replayed_through, rewound=replayed_through - since
        )

    def _replay_then_go_live(
        self,
        connection: ConnectionRecord,
        channel: str,
        missed: list[tuple[int, str]],
        since: int,
    ) -> int:
        """Subscribe pending, send ``missed`` (the messages after ``since``), then go live
        exactly after the last message sent; returns that message's ``seq``."""
        self.store.subscribe(connection, channel, pending=True)
        replayed_through = since
        connection_id = connection.connection_id
        try:
            replayed_through = self._replay(connection_id, missed, replayed_through)
            for _attempt in range(GO_LIVE_ATTEMPTS):
                if self.store.go_live(connection_id, channel, replayed_through, check=True):
                    break
                top = self.store.channel_position(channel, int(self.clock())).seq
                more = self._kept_between(channel, replayed_through, top) or []
                replayed_through = self._replay(connection_id, more, replayed_through)
            else:
                # Publishes kept racing: go live unconditionally and send what came
                # meanwhile; the client drops any duplicate by seq.
                logger.warning("recovery raced publishes; at-least-once at the seam")
                self.store.go_live(connection_id, channel, replayed_through, check=False)
                top = self.store.channel_position(channel, int(self.clock())).seq
                more = self._kept_between(channel, replayed_through, top) or []
                replayed_through = self._replay(connection_id, more, replayed_through)
        except ConnectionGoneError:
            self.forget(connection_id)
            raise
        except DeliveryError:
            # The replay could not be sent whole: no half-recovered subscription stays
            # behind; the client gets an error and may subscribe again.
            self.store.unsubscribe(connection_id, channel)
            raise
        return replayed_through

    def _kept_between(self, channel: str, after: int, through: int) -> list[tuple[int, str]] | None:
        """Every kept message in ``(after, through]`` in order, or ``None`` if any is gone.

        A seq exists only with its message (the publish takes it by writing the message),
        so a gap is an expiry or the count cap, never a publish in flight; a short wait
        covers a read that races the newest write.
        """
        wanted = through - after
        if wanted <= 0:
            return []
        if wanted > self.settings.history_size:
            return None  # the oldest of them fell out of the count cap
        for attempt in range(TAIL_RETRIES + 1):
            now = int(self.clock())
            kept = self.store.history_after(channel, after, wanted, now)
            seqs = [seq for seq, _frame in kept]
            if seqs == list(range(after + 1, after + 1 + len(seqs))) and len(seqs) == wanted:
                return kept
            head_missing = not seqs or seqs[0] != after + 1
            if head_missing or attempt == TAIL_RETRIES:
                return None
            self.sleep(TAIL_RETRY_SECONDS)
        return None  # pragma: no cover - the loop always returns

    def _replay(self, connection_id: str, frames: list[tuple[int, str]], through: int) -> int:
        for seq, frame in frames:
            self._send_retrying(connection_id, frame.encode())
            through = seq
        return through

    def _send_retrying(self, connection_id: str, data: bytes) -> None:
        """Send one replayed frame, retrying throttling and transient failures in place
        (so the replay keeps its order); raises what finally failed."""
        _attempts, error = post_retrying(
            self.send,
            connection_id,
            data,
            max_attempts=self.settings.fanout_max_attempts,
            sleep=self.sleep,
        )
        if error is not None:
            raise error

    def unsubscribe(self, connection: ConnectionRecord, channel: str) -> None:
        """Leave a channel (harmless when not subscribed); announces a presence leave."""
        self.store.unsubscribe(connection.connection_id, channel)
        if self.is_presence(channel) and self.store.presence_leave(
            channel, connection.user_id, connection.connection_id
        ):
            self._broadcast_presence("leave", channel, connection.user_id, None)

    # ------------------------------------------------------------ history
    def history(self, channel: str, limit: int, before: int | None) -> dict[str, Any]:
        """A page of kept messages, oldest first, ending before ``before`` (default: now)."""
        position = self.store.channel_position(channel, int(self.clock()))
        page: dict[str, Any] = {
            "channel": channel,
            "epoch": position.epoch,
            "seq": position.seq,
            "messages": [],
            "next": None,
        }
        if limit == 0 or position.seq == 0:
            return page
        upper = position.seq + 1 if before is None else min(before, position.seq + 1)
        oldest = max(1, position.seq - self.settings.history_size + 1)  # the count cap
        kept = self.store.history_before(channel, upper, limit, int(self.clock()), oldest=oldest)
        messages: list[dict[str, Any]] = []
        size = len(protocol.encode(page)) + 200
        for _seq, frame in kept:  # newest first: trim the oldest when over the frame limit
            size += len(frame.encode()) + 1
            if size > protocol.MAX_FRAME_BYTES:
                break
            messages.append(json.loads(frame))
        messages.reverse()
        page["messages"] = messages
        if messages and messages[0]["seq"] > 1:
            page["next"] = messages[0]["seq"]
        return page

    # ------------------------------------------------------------ presence
    def is_presence(self, channel: str) -> bool:
        """Whether ``channel`` announces joins and leaves."""
        prefix = self.settings.presence_prefix
        return bool(prefix) and channel.startswith(prefix)

    def _join(self, connection: ConnectionRecord, channel: str) -> None:
        if self.store.presence_join(
            channel,
            connection.user_id,
            connection.connection_id,
            connection.presence,
            connection.expires_at,
        ):
            data = json.loads(connection.presence) if connection.presence else None
            self._broadcast_presence("join", channel, connection.user_id, data)

    def members(self, channel: str) -> list[dict[str, Any]]:
        """The users present on ``channel``, with their data; capped."""
        cap = self.settings.presence_max_members
        members = self.store.presence_members(channel, cap + 1, int(self.clock()))
        if len(members) > cap:
            raise PayloadTooLargeError(
                f"more than {cap} members on '{channel}'; use join and leave events instead"
            )
        return [
            {
                "user": member.user_id,
                "data": json.loads(member.data) if member.data else None,
                "connections": member.connections,
            }
            for member in members
        ]

    def _broadcast_presence(self, kind: str, channel: str, user_id: str, data: Any) -> None:
        frame: dict[str, Any] = {"type": kind, "channel": channel, "user": user_id}
        if kind == "join":
            frame["data"] = data
        recipients = (
            sub.connection_id for sub in self.store.subscribers(channel) if not sub.pending
        )
        self.fanout.deliver(recipients, protocol.encode(frame))

    # ------------------------------------------------------------ forgetting
    def forget(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and its subscriptions, announcing presence leaves.

        Returns its user and subscriptions. Safe to run twice.
        """
        deleted = self._forget(connection_id)
        self.announce_leaves()
        return deleted

    def _forget(self, connection_id: str) -> DeletedConnection:
        deleted = self.store.delete_connection(connection_id)
        leaves = []
        for channel, user_id in deleted.subscriptions:
            if (
                user_id
                and self.is_presence(channel)
                and self.store.presence_leave(channel, user_id, connection_id)
            ):
                leaves.append((channel, user_id))
        self._leaves.add(leaves)
        return deleted

    def _prune(self, connection_id: str) -> None:
        # Runs inside a fan-out: the leaves are queued and announced once it is done.
        self._forget(connection_id)

    def announce_leaves(self) -> None:
        """Broadcast the presence leaves of pruned connections (bounded rounds)."""
        for _round in range(3):
            leaves = self._leaves.take()
            if not leaves:
                return
            for channel, user_id in leaves:
                self._broadcast_presence("leave", channel, user_id, None)
