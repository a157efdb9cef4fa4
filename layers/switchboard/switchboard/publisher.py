"""Publishing: a message gets its channel's next ``seq``, is kept, and is fanned out.

Owns the publish path and ``direct`` messages to a user's connections. The ``seq`` is
taken by writing the message at it (:meth:`~switchboard.storage.ChannelLog.append_message`,
a conditional put): a concurrent publish that wrote there first sends this one to the seq
after, up to :data:`SEQ_ATTEMPTS` times. Delivery goes through
:meth:`switchboard.forgetting.Forgetting.deliver`, which prunes gone recipients and
announces their presence leaves.

A publish with an idempotency key (the ``publish`` frame's ``idempotencyKey``) writes the
key with the message in one transaction
(:meth:`~switchboard.storage.ChannelLog.append_message_once`); a repeat of the key by the
same user on the same channel within ``PUBLISH_KEY_SECONDS`` writes nothing, delivers
nothing and answers with the first publish's ``seq`` and ``epoch`` (``duplicate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from switchboard import protocol
from switchboard.config import Settings
from switchboard.errors import ChannelBusyError
from switchboard.fanout import FanoutReport
from switchboard.storage import FirstPublish, Storage, new_epoch

SEQ_ATTEMPTS = 20

Deliver = Callable[[Iterable[str], bytes], FanoutReport]


@dataclass(frozen=True)
class PublishResult:
    """What a publish did: the message's position and its delivery report."""

    channel: str
    seq: int
    epoch: str | None
    report: FanoutReport
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The fields of a publish ``ack`` (and of the HTTP API's answer)."""
        fields = {
            "channel": self.channel,
            "seq": self.seq,
            "epoch": self.epoch,
            **self.report.as_dict(),
        }
        if self.duplicate:
            fields["duplicate"] = True
        return fields


def publish_key(channel: str, sender: str, key: str) -> str:
    """The stored form of an idempotency key: one per (channel, user, key), unambiguous
    (the user's length is written out, as user ids may hold any character)."""
    return f"{channel}#{len(sender)}:{sender}#{key}"


class Publisher:
    """Publishes messages on channels and sends ``direct`` frames to users."""

    def __init__(
        self,
        *,
        store: Storage,
        deliver: Deliver,
        settings: Settings,
        on_publish: Callable[[str, FanoutReport], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.deliver = deliver
        self.settings = settings
        self.on_publish = on_publish or (lambda _channel, _report: None)
        self.clock = clock

    def publish(
        self, channel: str, data: Any, sender: str, idempotency_key: str | None = None
    ) -> PublishResult:
        """Give the message the channel's next seq, keep it, and deliver it; with an
        ``idempotency_key`` seen before, only answer with the first publish's position."""
        protocol.check_message_size(channel, data, sender)
        now_ms = int(self.clock() * 1000)
        now = now_ms // 1000
        expires_at = now + self.settings.history_retention_seconds
        for _attempt in range(SEQ_ATTEMPTS):
            position = self.store.channel_position(channel, now)
            seq, epoch = position.seq + 1, position.epoch or new_epoch()
            message = protocol.message(channel, data, seq, sender, now_ms, epoch=epoch)
            frame = protocol.encode(message)
            if idempotency_key is None:
                written = self.store.append_message(channel, seq, epoch, frame.decode(), expires_at)
            else:
                key = publish_key(channel, sender, idempotency_key)
                outcome = self.store.append_message_once(
                    channel, seq, epoch, frame.decode(), expires_at, key=key, now=now
                )
                if isinstance(outcome, FirstPublish):
                    return PublishResult(
                        channel, outcome.seq, outcome.epoch, FanoutReport(), duplicate=True
                    )
                written = outcome
            if written:
                break
        else:
            raise ChannelBusyError(f"'{channel}' is too busy to take a message; try again")
        recipients = (
            sub.connection_id for sub in self.store.subscribers(channel) if sub.receives(seq)
        )
        report = self.deliver(recipients, frame)
        self.on_publish(channel, report)
        return PublishResult(channel, seq, epoch, report)

    def send_to_user(self, user_id: str, data: Any, sender: str) -> FanoutReport:
        """Send a ``direct`` frame to every connection of ``user_id``."""
        encoded = protocol.encode(protocol.direct(data, sender, int(self.clock() * 1000)))
        protocol.check_frame_size(encoded)
        return self.deliver(self.store.connections_of(user_id), encoded)
