"""Subscribing with recovery, rewinding, and paging a channel's history.

Owns the replay/live seam. Every published message gets the channel's next ``seq`` and is
kept for ``HISTORY_RETENTION_SECONDS`` (and at most the last ``HISTORY_SIZE`` of a channel).
A subscribe with ``since`` replays every message after ``since`` in order, then acks
``recovered: true``; if any of them is no longer kept (or the epoch differs, or more than
``REPLAY_LIMIT`` are missing), it replays nothing and acks ``recovered: false``. A
recovering subscription is *pending* while it replays, then made live in one transaction
that holds only while the channel's ``seq`` is the last one replayed: messages up to it
come from the replay, later ones live, none twice.

A subscribe with ``rewind: N`` goes through the same seam: it replays the last N kept
messages (fewer when fewer are kept), then any published while it replayed, then acks
``rewound`` with the count sent before the ack.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard import protocol
from switchboard.config import Settings
from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.fanout import post_retrying
from switchboard.storage import ConnectionRecord, DeletedConnection, Storage

logger = logging.getLogger(__name__)

GO_LIVE_ATTEMPTS = 20
TAIL_RETRIES = 5
TAIL_RETRY_SECONDS = 0.02

# A page of history (the history action and GET /channels/{channel}/history).
HISTORY_PAGE_DEFAULT = 50
HISTORY_PAGE_MAX = 100

Send = Callable[[str, bytes], None]


@dataclass(frozen=True)
class Resume:
    """Where a subscribe starts: after ``since`` (of ``epoch``), the last ``rewind`` kept
    messages, or (all ``None``) from now on."""

    since: int | None = None
    epoch: str | None = None
    rewind: int | None = None


FROM_NOW = Resume()  # a plain subscribe


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


class Recovery:
    """Subscribes connections, replaying what they missed or the last messages kept."""

    def __init__(
        self,
        *,
        store: Storage,
        send: Send,
        settings: Settings,
        forget: Callable[[str], DeletedConnection],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.send = send
        self.settings = settings
        self.forget = forget
        self.clock = clock
        self.sleep = sleep

    def subscribe(
        self, connection: ConnectionRecord, channel: str, resume: Resume = FROM_NOW
    ) -> Subscribed:
        """Subscribe; with ``since``, replay what was missed or say it cannot; with
        ``rewind`` (never with ``since``), first send the last ``rewind`` kept messages."""
        since, epoch, rewind = resume.since, resume.epoch, resume.rewind
        result = None
        if since is not None:
            result = self._recover(connection, channel, since, epoch)
        elif rewind:
            result = self._rewind(connection, channel, rewind)
        if result is not None:
            return result
        self.store.subscribe(connection, channel)
        position = self.store.channel_position(channel, int(self.clock()))
        recovered = None
        if since is not None:
            recovered = since == position.seq and epoch in (None, position.epoch)
        rewound = None if rewind is None else 0
        return Subscribed(channel, position.epoch, position.seq, recovered, rewound=rewound)

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
                replayed_through = self._catch_up(connection_id, channel, replayed_through)
            else:
                # Publishes kept racing: go live unconditionally and send what came
                # meanwhile; the client drops any duplicate by seq.
                logger.warning("recovery raced publishes; at-least-once at the seam")
                self.store.go_live(connection_id, channel, replayed_through, check=False)
                replayed_through = self._catch_up(connection_id, channel, replayed_through)
        except ConnectionGoneError:
            self.forget(connection_id)
            raise
        except DeliveryError:
            # The replay could not be sent whole: no half-recovered subscription stays
            # behind; the client gets an error and may subscribe again.
            self.store.unsubscribe(connection_id, channel)
            raise
        return replayed_through

    def _catch_up(self, connection_id: str, channel: str, through: int) -> int:
        """Replay what was published after ``through`` since the replay began."""
        top = self.store.channel_position(channel, int(self.clock())).seq
        more = self._kept_between(channel, through, top) or []
        return self._replay(connection_id, more, through)

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


def history_page(
    store: Storage, settings: Settings, channel: str, *, limit: int, before: int | None, now: int
) -> dict[str, Any]:
    """A page of kept messages, oldest first, ending before ``before`` (default: now)."""
    position = store.channel_position(channel, now)
    page = protocol.history_page(channel, position.epoch, position.seq)
    if limit == 0 or position.seq == 0:
        return page
    upper = position.seq + 1 if before is None else min(before, position.seq + 1)
    oldest = max(1, position.seq - settings.history_size + 1)  # the count cap
    kept = store.history_before(channel, upper, limit, now, oldest=oldest)
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
