"""The protocol's actions (subscribe, unsubscribe, publish, history, presence, ping, auth).

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
from typing import TYPE_CHECKING, Any

from switchboard import protocol
from switchboard.channels import check_allowed, validate_channel
from switchboard.config import Settings
from switchboard.errors import (
    BadRequestError,
    ConnectionGoneError,
    DeliveryError,
    ForbiddenError,
    PayloadTooLargeError,
    RateLimitedError,
    UnknownMethodError,
    translate,
)
from switchboard.protocol import Frame
from switchboard.realtime import HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX, Realtime, Resume
from switchboard.router import Route, Router
from switchboard.sender import ManagementApi
from switchboard.storage import ConnectionRecord

if TYPE_CHECKING:
    from switchboard.auth import TokenVerifier
    from switchboard.hook_points import HookPoints
    from switchboard.hooks import Context
    from switchboard.reauth import Refreshed

logger = logging.getLogger(__name__)

PUBLISH_WINDOW_SECONDS = 1


@dataclass(frozen=True)
class Request:
    """One client frame in context: who sent it, and the services to answer it."""

    frame: Frame
    connection_id: str
    connection: ConnectionRecord | None
    realtime: Realtime
    settings: Settings
    now_ms: int
    reauthorize: Callable[[ConnectionRecord, str], Refreshed] | None = None
    hooks: HookPoints | None = None  # the app's hooks; None: no HOOKS_MODULE

    @property
    def sender(self) -> ConnectionRecord:
        """The sender's connection record (present for actions that need it)."""
        assert self.connection is not None
        return self.connection

    def channel(self) -> str:
        """The frame's validated ``channel`` field."""
        return validate_channel(self.frame.fields.get("channel"))

    def allowed_channel(self) -> str:
        """The frame's channel, checked against the token's ``channels`` globs."""
        channel = self.channel()
        check_allowed(channel, self.sender.capabilities)
        return channel

    def context(self) -> Context:
        """The app's hooks' ``ctx`` for the sender's connection."""
        from switchboard.hook_points import context

        return context(self.sender, lambda: self.realtime)


router: Router[Request] = Router()


@router.action("ping", needs_connection=False)
def ping(request: Request) -> dict[str, Any]:
    """Answer with the caller's own connection id."""
    return protocol.pong(request.frame.id, request.connection_id)


def _optional_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadRequestError(f"'{name}' must be a string of 1 to 64 characters")
    return value


REWIND_MAX = 100


def _rewind(fields: dict[str, Any], since: int | None) -> int | None:
    """The subscribe's ``rewind``: absent, or 0 to ``REWIND_MAX`` and without ``since``."""
    rewind = protocol.optional_count(fields.get("rewind"), "rewind", maximum=REWIND_MAX)
    if rewind is not None and since is not None:
        raise BadRequestError("'rewind' cannot be combined with 'since'")
    return rewind


@router.action("subscribe")
def subscribe(request: Request) -> dict[str, Any]:
    """Subscribe to a channel; with ``since`` (and ``epoch``), recover what was missed;
    with ``rewind: N``, first receive the channel's last N kept messages.

    The missed (or rewound) messages are sent before the ``ack``, which says
    ``recovered`` (or ``rewound``).
    """
    channel = request.allowed_channel()
    since = protocol.optional_count(request.frame.fields.get("since"), "since")
    epoch = _optional_str(request.frame.fields, "epoch")
    rewind = _rewind(request.frame.fields, since)
    if request.hooks is not None:
        request.hooks.subscribe(request.context(), channel)
    result = request.realtime.subscribe(request.sender, channel, Resume(since, epoch, rewind))
    return protocol.ack(request.frame.id, **result.as_dict())


@router.action("unsubscribe")
def unsubscribe(request: Request) -> dict[str, Any]:
    """Leave a channel (harmless when not subscribed)."""
    channel = request.channel()
    request.realtime.unsubscribe(request.sender, channel)
    return protocol.ack(request.frame.id, channel=channel)


@router.action("publish", rate_limited=True)
def publish(request: Request) -> dict[str, Any] | None:
    """Publish ``data`` to every subscriber of a channel and report the delivery.

    With ``"ack": false`` the sender gets no ``ack`` (one API Gateway message less);
    errors still come back. With an ``idempotencyKey`` seen from this user on this
    channel in the last 5 minutes it publishes nothing and acks the first ``seq`` with
    ``duplicate: true``.
    """
    channel = request.allowed_channel()
    fields = request.frame.fields
    if "data" not in fields:
        raise BadRequestError("'data' is required (any JSON value)")
    wants_ack = fields.get("ack", True)
    if not isinstance(wants_ack, bool):
        raise BadRequestError("'ack' must be true or false")
    key = protocol.optional_idempotency_key(fields.get("idempotencyKey"))
    sender = request.sender
    data = fields["data"]
    protocol.check_message_size(channel, data, sender.user_id)
    if request.hooks is not None:  # before a seq is taken: a Reject spends none
        data = request.hooks.publish(request.context(), channel, data)
    result = request.realtime.publish(channel, data, sender.user_id, key)
    return protocol.ack(request.frame.id, **result.as_dict()) if wants_ack else None


@router.action("history")
def history(request: Request) -> dict[str, Any]:
    """Page back through a channel's kept messages; ``limit: 0`` gives the position."""
    channel = request.allowed_channel()
    fields = request.frame.fields
    limit = protocol.optional_count(fields.get("limit"), "limit", maximum=HISTORY_PAGE_MAX)
    before = protocol.optional_count(fields.get("before"), "before")
    page = request.realtime.history(
        channel, HISTORY_PAGE_DEFAULT if limit is None else limit, before
    )
    return protocol.ack(request.frame.id, **page)


@router.action("presence")
def presence(request: Request) -> dict[str, Any]:
    """The members of a presence channel, with their data."""
    channel = request.allowed_channel()
    if not request.realtime.is_presence(channel):
        prefix = request.settings.presence_prefix
        raise BadRequestError(f"'{channel}' is not a presence channel (prefix '{prefix}')")
    members = request.realtime.members(channel)
    reply = protocol.ack(request.frame.id, channel=channel, members=members)
    if len(protocol.encode(reply)) > protocol.MAX_FRAME_BYTES:
        raise PayloadTooLargeError("the member list does not fit in one frame")
    return reply


@router.action("auth")
def auth(request: Request) -> dict[str, Any]:
    """Replace the connection's capabilities with a fresh token's (same user); the
    subscriptions it no longer allows end with an ``unsubscribed`` frame first."""
    token = request.frame.fields.get("token")
    if not isinstance(token, str) or not token:
        raise BadRequestError("'token' is required (a non-empty string)")
    if request.reauthorize is None:
        raise ForbiddenError("this server verifies no tokens on open connections")
    refreshed = request.reauthorize(request.sender, token)
    return protocol.ack(request.frame.id, expiresAt=refreshed.expires_at)


@router.action("rpc")
def rpc(request: Request) -> dict[str, Any]:
    """Call the app's ``rpc`` hook ``method`` with ``params``; its result in the ``ack``."""
    from switchboard.hooks import check_method

    fields = request.frame.fields
    method = check_method(fields.get("method"))
    if request.hooks is None:
        raise UnknownMethodError(f"no rpc method '{method}'")
    result = request.hooks.call(request.context(), method, fields.get("params"))
    reply = protocol.ack(request.frame.id, result=result)
    protocol.check_frame_size(protocol.encode(reply))
    return reply


class MessageHandler:
    """Answers client frames on one connection: the ``$default`` route."""

    def __init__(
        self,
        *,
        realtime: Realtime,
        sender: ManagementApi,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        verifier: Callable[[], TokenVerifier] | None = None,
        hooks: HookPoints | None = None,
    ) -> None:
        self.hooks = hooks
        self.realtime = realtime
        self.store = realtime.store
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.verifier = verifier

    def _reauthorize(self, connection: ConnectionRecord, token: str) -> Refreshed:
        """The ``auth`` action's work (:mod:`switchboard.reauth`, loaded on first use)."""
        from switchboard.reauth import Reauthorizer

        assert self.verifier is not None
        return Reauthorizer(
            store=self.store,
            settings=self.settings,
            verifier=self.verifier,
            realtime=self.realtime,
            post=self._reply,
        ).refresh(connection, token)

    def handle(
        self,
        connection_id: str,
        body: str | None,
        identified: Callable[[str], object] | None = None,
        *,
        base64_encoded: bool = False,
    ) -> dict[str, Any] | None:
        """Answer one frame; returns the reply it posted back (``None``: none was asked).

        ``identified`` is told the connection's user id once it is known (the handler
        adds it to its log lines). ``base64_encoded``: the event's ``isBase64Encoded``
        (a frame that is not base64, or not UTF-8 once decoded, is a ``bad_request``).
        """
        reply = self._answer(connection_id, body, identified, base64_encoded)
        if reply is None:
            return None
        try:
            payload = protocol.encode(reply)
        except (TypeError, ValueError):  # a bug: the action answered something not JSON
            logger.exception("reply could not be encoded")
            reply = _internal(protocol.peek_id(body))
            payload = protocol.encode(reply)
        self._reply(connection_id, payload)
        return reply

    def _connection(
        self, route: Route[Request], connection_id: str, now_ms: int
    ) -> ConnectionRecord:
        """The sender's record; for a rate-limited action, read by counting the publish."""
        limit = self.settings.publish_rate_limit
        if route.rate_limited:
            window = now_ms // (PUBLISH_WINDOW_SECONDS * 1000)
            slot = self.store.take_publish_slot(connection_id, window, limit)
            connection, allowed = slot.connection, slot.allowed
        else:
            connection, allowed = self.store.get_connection(connection_id), True
        if connection is None:
            raise ForbiddenError("this connection is not registered; reconnect")
        if not allowed:
            raise RateLimitedError(f"more than {limit} publishes per second")
        return connection

    def _answer(
        self,
        connection_id: str,
        body: str | None,
        identified: Callable[[str], object] | None,
        base64_encoded: bool,
    ) -> dict[str, Any] | None:
        frame_id: str | None = None
        text: str | bytes | None = body
        try:
            if base64_encoded and body:
                text = protocol.frame_bytes(body)
            frame = protocol.parse_frame(text)
            frame_id = frame.id
            route = router.resolve(frame.action)
            now_ms = int(self.clock() * 1000)
            connection = None
            if route.needs_connection:
                connection = self._connection(route, connection_id, now_ms)
                if identified is not None:
                    identified(connection.user_id)
            request = Request(
                frame=frame,
                connection_id=connection_id,
                connection=connection,
                realtime=self.realtime,
                settings=self.settings,
                now_ms=now_ms,
                reauthorize=self._reauthorize if self.verifier is not None else None,
                hooks=self.hooks,
            )
            return route.handler(request)
        except Exception as exc:  # every error has its answer in one table
            answer = translate(exc)
            if answer.message is None:
                logger.exception("action failed")
                return _internal(frame_id or protocol.peek_id(text))
            return protocol.error(frame_id or protocol.peek_id(text), answer.code, answer.message)

    def _reply(self, connection_id: str, payload: bytes) -> None:
        try:
            self.sender.post(connection_id, payload)
        except ConnectionGoneError:
            logger.info("the sender left before its reply")
        except DeliveryError as exc:
            logger.warning("reply not delivered", extra={"code": exc.code})
        except Exception:
            logger.exception("reply not delivered")


def _internal(frame_id: Any) -> dict[str, Any]:
    """The answer to a frame whose action failed with a bug (logged by the caller)."""
    return protocol.error(
        frame_id if isinstance(frame_id, str) else None, "internal", "internal error; try again"
    )
