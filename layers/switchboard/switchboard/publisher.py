"""Publishing: a message gets its channel's next ``seq``, is kept, and is fanned out.

Owns the publish path and ``direct`` messages to a user's connections. The ``seq`` is
taken by writing the message at it (:meth:`~switchboard.storage.ChannelLog.append_message`,
a conditional put): a concurrent publish that wrote there first sends this one to the seq
after, up to :data:`SEQ_ATTEMPTS` times. Delivery goes through
:meth:`switchboard.forgetting.Forgetting.deliver`, which prunes gone recipients and
announces their presence leaves.
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
from switchboard.storage import Storage, new_epoch

SEQ_ATTEMPTS = 20

Deliver = Callable[[Iterable[str], bytes], FanoutReport]


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

    def publish(self, channel: str, data: Any, sender: str) -> PublishResult:
        """Give the message the channel's next seq, keep it, and deliver it."""
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
        report = self.deliver(recipients, frame)
        self.on_publish(channel, report)
        return PublishResult(channel, seq, epoch, report)

    def send_to_user(self, user_id: str, data: Any, sender: str) -> FanoutReport:
        """Send a ``direct`` frame to every connection of ``user_id``."""
        encoded = protocol.encode(protocol.direct(data, sender, int(self.clock() * 1000)))
        protocol.check_frame_size(encoded)
        return self.deliver(self.store.connections_of(user_id), encoded)
