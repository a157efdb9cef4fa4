"""The protocol's actions (subscribe, unsubscribe, publish, ping) and the frame loop.

:class:`MessageHandler` turns one client frame into exactly one reply (an ``ack``,
``pong`` or ``error``) posted back to the sender's connection, plus, for a
publish, a ``message`` to every subscriber of the channel. Every failure becomes
an ``error`` reply: a bad frame never drops the socket or crashes the Lambda.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard import protocol
from switchboard.channels import check_allowed, validate_channel
from switchboard.config import Settings
from switchboard.errors import (
    BadRequestError,
    ConnectionGoneError,
    DeliveryError,
    ForbiddenError,
    ProtocolError,
    RateLimitedError,
)
from switchboard.fanout import Fanout, FanoutReport
from switchboard.protocol import Frame
from switchboard.router import Router
from switchboard.sender import Sender
from switchboard.store import ConnectionRecord, Store

logger = logging.getLogger(__name__)

PUBLISH_WINDOW_SECONDS = 1


@dataclass(frozen=True)
class Request:
    """One client frame in context: who sent it, and the services to answer it."""

    frame: Frame
    connection_id: str
    connection: ConnectionRecord | None
    store: Store
    fanout: Fanout
    settings: Settings
    now_ms: int
    on_publish: Callable[[str, FanoutReport], None]

    @property
    def sender(self) -> ConnectionRecord:
        """The sender's connection record (present for actions that need it)."""
        assert self.connection is not None
        return self.connection

    def channel(self) -> str:
        """The frame's validated ``channel`` field."""
        return validate_channel(self.frame.fields.get("channel"))


router: Router[Request] = Router()


@router.action("ping", needs_connection=False)
def ping(request: Request) -> dict[str, Any]:
    """Answer with the caller's own connection id."""
    return protocol.pong(request.frame.id, request.connection_id)


def _optional_int(fields: dict[str, Any], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"'{name}' must be a non-negative integer")
    return value


def _optional_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadRequestError(f"'{name}' must be a string of 1 to 64 characters")
    return value


@router.action("subscribe")
def subscribe(request: Request) -> dict[str, Any]:
    """Subscribe to a channel; with ``since``, say whether nothing was missed.

    The ack carries the channel's ``epoch`` and last ``seq``. With ``since`` (and
    ``epoch``), ``recovered`` is true only when the client has missed nothing:
    this store keeps no history, so a gap can only be reported, never replayed.
    """
    channel = request.channel()
    since = _optional_int(request.frame.fields, "since")
    epoch = _optional_str(request.frame.fields, "epoch")
    check_allowed(channel, request.sender.capabilities)
    request.store.subscribe(request.sender, channel)
    position = request.store.channel_position(channel)
    extra: dict[str, Any] = {"channel": channel, "epoch": position.epoch, "seq": position.seq}
    if since is not None:
        same_epoch = epoch is None or epoch == position.epoch
        extra["recovered"] = same_epoch and since == position.seq
    return protocol.ack(request.frame.id, **extra)


@router.action("unsubscribe")
def unsubscribe(request: Request) -> dict[str, Any]:
    """Leave a channel (harmless when not subscribed)."""
    channel = request.channel()
    request.store.unsubscribe(request.connection_id, channel)
    return protocol.ack(request.frame.id, channel=channel)


@router.action("publish")
def publish(request: Request) -> dict[str, Any]:
    """Publish ``data`` to every subscriber of a channel and report the delivery."""
    channel = request.channel()
    fields = request.frame.fields
    if "data" not in fields:
        raise BadRequestError("'data' is required (any JSON value)")
    sender = request.sender
    check_allowed(channel, sender.capabilities)
    protocol.check_message_size(channel, fields["data"], sender.user_id)
    window = request.now_ms // (PUBLISH_WINDOW_SECONDS * 1000)
    if not request.store.take_publish_slot(
        request.connection_id, window, request.settings.publish_rate_limit
    ):
        raise RateLimitedError(
            f"more than {request.settings.publish_rate_limit} publishes per second"
        )
    position = request.store.next_seq(channel)
    frame = protocol.message(channel, fields["data"], position.seq, sender.user_id, request.now_ms)
    report = request.fanout.deliver(request.store.subscribers(channel), protocol.encode(frame))
    request.on_publish(channel, report)
    return protocol.ack(
        request.frame.id,
        channel=channel,
        seq=position.seq,
        epoch=position.epoch,
        **report.as_dict(),
    )


class MessageHandler:
    """Answers client frames on one connection: the ``$default`` route."""

    def __init__(
        self,
        *,
        store: Store,
        sender: Sender,
        fanout: Fanout,
        settings: Settings,
        on_publish: Callable[[str, FanoutReport], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sender = sender
        self.fanout = fanout
        self.settings = settings
        self.on_publish = on_publish or (lambda _channel, _report: None)
        self.clock = clock

    def handle(self, connection_id: str, body: str | None) -> dict[str, Any]:
        """Answer one frame; returns the reply it posted back."""
        reply = self._answer(connection_id, body)
        self._reply(connection_id, reply)
        return reply

    def _answer(self, connection_id: str, body: str | None) -> dict[str, Any]:
        frame_id: str | None = None
        try:
            frame = protocol.parse_frame(body)
            frame_id = frame.id
            route = router.resolve(frame.action)
            connection = None
            if route.needs_connection:
                connection = self.store.get_connection(connection_id)
                if connection is None:
                    raise ForbiddenError("this connection is not registered; reconnect")
            request = Request(
                frame=frame,
                connection_id=connection_id,
                connection=connection,
                store=self.store,
                fanout=self.fanout,
                settings=self.settings,
                now_ms=int(self.clock() * 1000),
                on_publish=self.on_publish,
            )
            return route.handler(request)
        except ProtocolError as exc:
            return protocol.error(frame_id or protocol.peek_id(body), exc.code, exc.message)
        except Exception:
            logger.exception("action failed")
            return protocol.error(
                frame_id or protocol.peek_id(body), "internal", "internal error; try again"
            )

    def _reply(self, connection_id: str, reply: dict[str, Any]) -> None:
        try:
            self.sender.post(connection_id, protocol.encode(reply))
        except ConnectionGoneError:
            logger.info("the sender left before its reply")
        except DeliveryError as exc:
            logger.warning("reply not delivered", extra={"code": exc.code})
