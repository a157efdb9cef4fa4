"""Storage as the library sees it: the records it keeps and the interfaces that keep them.

Owns the seams between the logic (:mod:`switchboard.realtime`, :mod:`switchboard.actions`,
:mod:`switchboard.lifecycle`, :mod:`switchboard.server_publish`) and DynamoDB. Each role is a
small :class:`typing.Protocol`; :class:`Storage` is all of them. Two implementations keep the
same semantics: :class:`switchboard.store.Store` (pynamodb, the only module that touches
DynamoDB) and :class:`switchboard.memory_store.MemoryStore` (dicts, for fast unit tests).

Semantics every implementation keeps:

* a message's ``seq`` is taken by a conditional write of the message at it
  (:meth:`ChannelLog.append_message` is ``False`` when a concurrent publish took it);
* expiry is decided on read, as DynamoDB's lazy TTL requires: a history item is *kept*
  until ``ttl - POSITION_KEPT_SECONDS``, a channel's epoch lives until its newest item's
  ``ttl``, a presence member until its ``ttl``; connections and subscriptions are returned
  until they are deleted;
* a keyed publish (:meth:`ChannelLog.append_message_once`) writes its message and its
  key in one transaction: a key seen within ``PUBLISH_KEY_SECONDS`` writes nothing and
  returns the first publish's position (an expired key counts as absent, decided on write);
* a pending subscription goes live only while the channel has no message after the last
  one replayed (:meth:`Subscriptions.go_live` with ``check``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60
TTL_MARGIN_SECONDS = 10 * 60
# How long a channel's position (epoch, seq) outlives its last kept message: its newest
# history item stays this much longer than it is kept (centrifuge's history meta TTL).
POSITION_KEPT_SECONDS = 30 * 24 * 60 * 60
# The publish rate limit's register holds the windows of the last `limit` publishes,
# modulo this (more seconds than a connection lives: API Gateway closes it after 2 hours).
RATE_WINDOW_MODULO = 1_000_000
# How long a publish's idempotency key is remembered (DESIGN.md: "within 5 minutes").
PUBLISH_KEY_SECONDS = 5 * 60


@dataclass(frozen=True)
class ConnectionRecord:
    """What the store knows about a connection."""

    connection_id: str
    user_id: str
    capabilities: tuple[str, ...] | None
    connected_at: int
    expires_at: int
    source_ip: str | None = None
    user_agent: str | None = None
    presence: str | None = None
    claims: str | None = None  # the token's claims as JSON, kept only for the app's hooks
    meta: str | None = None  # on_connect's metadata as JSON (ctx.meta)


@dataclass(frozen=True)
class Subscriber:
    """A subscription as the fan-out sees it."""

    connection_id: str
    pending: bool = False
    live_from: int | None = None

    def receives(self, seq: int) -> bool:
        """Whether a live message with this ``seq`` goes to this subscriber."""
        if self.pending:
            return False
        return self.live_from is None or seq > self.live_from


@dataclass(frozen=True)
class Member:
    """A user present on a channel."""

    user_id: str
    data: str | None
    connections: int


@dataclass(frozen=True)
class ChannelPosition:
    """A channel's ``epoch`` (``None`` before its first message) and last ``seq``."""

    epoch: str | None
    seq: int


@dataclass(frozen=True)
class FirstPublish:
    """Where the first publish with an idempotency key put its message."""

    seq: int
    epoch: str


@dataclass(frozen=True)
class DeletedConnection:
    """What deleting a connection removed: its user and its ``(channel, user)`` pairs."""

    user_id: str | None
    subscriptions: list[tuple[str, str | None]]


@dataclass(frozen=True)
class PublishSlot:
    """What counting a publish found: the connection (``None`` if unknown), and whether
    the rate limit lets the publish through."""

    connection: ConnectionRecord | None
    allowed: bool


def new_epoch() -> str:
    """A fresh random channel epoch."""
    return secrets.token_urlsafe(9)


class Connections(Protocol):
    """Open connections, by id and by user, with the publish rate limit's register."""

    def put_connection(self, record: ConnectionRecord) -> None:
        """Store a new connection (``$connect``)."""
        ...

    def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        """The connection's record, or ``None`` if it is unknown."""
        ...

    def delete_connection(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and all its subscriptions (idempotent)."""
        ...

    def connections_of(self, user_id: str) -> Iterable[str]:
        """Every connection id of one user."""
        ...

    def replace_capabilities(
        self, connection_id: str, capabilities: tuple[str, ...] | None, presence: str | None
    ) -> bool:
        """Give a connection a fresh token's ``channels`` and ``presence`` (the ``auth``
        action); ``False`` if the connection is gone."""
        ...

    def take_publish_slot(self, connection_id: str, window: int, limit: int) -> PublishSlot:
        """Count one publish in the connection's current window, and read the connection:
        refused when ``limit`` publishes already went through in ``window``."""
        ...


class Subscriptions(Protocol):
    """Who listens to which channel, and from which ``seq`` on."""

    def subscribe(
        self, connection: ConnectionRecord, channel: str, *, pending: bool = False
    ) -> None:
        """Subscribe (replacing a subscription there was); ``pending`` receives nothing
        live until :meth:`go_live`."""
        ...

    def go_live(self, connection_id: str, channel: str, through: int, *, check: bool) -> bool:
        """Make a pending subscription live after ``through``; with ``check``, ``False``
        when the channel already has a message after ``through``. A subscription deleted
        meanwhile stays deleted (``True``)."""
        ...

    def channels_of(self, connection_id: str) -> list[str]:
        """The channels a connection is subscribed to, sorted."""
        ...

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        """Remove one subscription (harmless if absent)."""
        ...

    def subscribers(self, channel: str) -> Iterable[Subscriber]:
        """The subscriptions of ``channel``, by connection id."""
        ...


class ChannelLog(Protocol):
    """Each channel's messages (its history) and position."""

    def append_message(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int
    ) -> bool:
        """Write the message at ``seq``; ``False`` if a concurrent publish took it first."""
        ...

    def append_message_once(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int, *, key: str, now: int
    ) -> bool | FirstPublish:
        """Write the message at ``seq`` and remember ``key`` (until ``now`` +
        ``PUBLISH_KEY_SECONDS``) together; ``False`` if the seq was taken first, the first
        publish's position if ``key`` was seen (nothing is written then)."""
        ...

    def history_after(
        self, channel: str, after: int, limit: int, now: int
    ) -> list[tuple[int, str]]:
        """Of the first ``limit`` messages with ``seq > after``, the kept ones, oldest first."""
        ...

    def history_before(
        self, channel: str, before: int, limit: int, now: int, *, oldest: int = 1
    ) -> list[tuple[int, str]]:
        """Of the last ``limit`` messages with ``oldest <= seq < before``, the kept ones,
        newest first."""
        ...

    def channel_position(self, channel: str, now: int) -> ChannelPosition:
        """The channel's epoch (``None`` once its newest item expired) and last seq."""
        ...


class Presence(Protocol):
    """The users present on presence channels, counted by connection."""

    def presence_join(
        self, channel: str, user_id: str, connection_id: str, data: str | None, expires_at: int
    ) -> bool:
        """Count a connection of ``user_id``; ``True`` if the user was absent."""
        ...

    def presence_leave(self, channel: str, user_id: str, connection_id: str) -> bool:
        """Remove one connection of ``user_id``; ``True`` if it was the user's last."""
        ...

    def presence_members(self, channel: str, limit: int, now: int) -> list[Member]:
        """Up to ``limit`` live members, by user id (expired ones skipped, not counted)."""
        ...


class SpentTokens(Protocol):
    """The ``jti`` of single-use tokens already presented."""

    def spend_token(self, jti: str, expires_at: int) -> bool:
        """Record a single-use token; ``False`` if it was spent before."""
        ...


class Storage(Connections, Subscriptions, ChannelLog, Presence, SpentTokens, Protocol):
    """Every storage role: what one store (DynamoDB or in memory) provides."""
