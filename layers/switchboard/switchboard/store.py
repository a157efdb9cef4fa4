"""The DynamoDB store: connections, subscriptions, channel positions, spent tokens.

The only module that touches DynamoDB. Every request-path access is a ``GetItem``,
``PutItem``, ``UpdateItem``, ``DeleteItem``, ``Query`` or batch write: never a
``Scan``. Items that could outlive their connection carry a ``ttl`` attribute
(API Gateway closes every socket after two hours and ``$disconnect`` is
best-effort). Tables are created by ``template.yaml``; tests create the same
schema in moto (:func:`create_tables`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from switchboard.config import Settings

logger = logging.getLogger(__name__)

CONNECTION_LIFETIME_SECONDS = 2 * 60 * 60
TTL_MARGIN_SECONDS = 10 * 60


def _conditional_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


class ConnectionsByUser(GlobalSecondaryIndex["ConnectionModel"]):  # type: ignore[no-untyped-call]
    """Every connection of one user (``POST /users/{id}/messages``)."""

    class Meta:
        index_name = "byUser"
        projection = KeysOnlyProjection()

    user_id = UnicodeAttribute(hash_key=True, attr_name="userId")
    connection_id = UnicodeAttribute(range_key=True, attr_name="connectionId")


class ConnectionModel(Model):
    """One open WebSocket connection, written by ``$connect``."""

    class Meta:
        table_name = "switchboard-connections"
        region = "us-east-1"

    connection_id = UnicodeAttribute(hash_key=True, attr_name="connectionId")
    user_id = UnicodeAttribute(attr_name="userId")
    channels = ListAttribute(of=UnicodeAttribute, null=True)
    connected_at = NumberAttribute(attr_name="connectedAt")
    source_ip = UnicodeAttribute(null=True, attr_name="sourceIp")
    user_agent = UnicodeAttribute(null=True, attr_name="userAgent")
    ttl = NumberAttribute()
    rate_window = NumberAttribute(null=True, attr_name="rateWindow")
    rate_count = NumberAttribute(null=True, attr_name="rateCount")
    by_user: ClassVar[ConnectionsByUser] = ConnectionsByUser()


class SubscriptionsByConnection(GlobalSecondaryIndex["SubscriptionModel"]):  # type: ignore[no-untyped-call]
    """Every channel one connection is subscribed to (``$disconnect``, pruning)."""

    class Meta:
        index_name = "byConnection"
        projection = KeysOnlyProjection()

    connection_id = UnicodeAttribute(hash_key=True, attr_name="connectionId")
    channel = UnicodeAttribute(range_key=True)


class SubscriptionModel(Model):
    """One connection subscribed to one channel."""

    class Meta:
        table_name = "switchboard-subscriptions"
        region = "us-east-1"

    channel = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True, attr_name="connectionId")
    user_id = UnicodeAttribute(null=True, attr_name="userId")
    ttl = NumberAttribute()
    by_connection: ClassVar[SubscriptionsByConnection] = SubscriptionsByConnection()


class ChannelModel(Model):
    """A channel's position: its ``epoch`` and the last ``seq`` given out."""

    class Meta:
        table_name = "switchboard-channels"
        region = "us-east-1"

    channel = UnicodeAttribute(hash_key=True)
    epoch = UnicodeAttribute(null=True)
    seq = NumberAttribute(default=0)


class SpentTokenModel(Model):
    """A single-use token's ``jti``, kept until the token expires."""

    class Meta:
        table_name = "switchboard-tokens"
        region = "us-east-1"

    jti = UnicodeAttribute(hash_key=True)
    ttl = NumberAttribute()


MODELS: tuple[type[Model], ...] = (
    ConnectionModel,
    SubscriptionModel,
    ChannelModel,
    SpentTokenModel,
)


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


@dataclass(frozen=True)
class ChannelPosition:
    """A channel's ``epoch`` (``None`` before its first message) and last ``seq``."""

    epoch: str | None
    seq: int


def bind_models(settings: Settings) -> None:
    """Point the models at this deployment's tables (once per container)."""
    names = {
        ConnectionModel: settings.connections_table,
        SubscriptionModel: settings.subscriptions_table,
        ChannelModel: settings.channels_table,
        SpentTokenModel: settings.tokens_table,
    }
    for model, table_name in names.items():
        model.Meta.table_name = table_name
        model.Meta.region = settings.region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None  # drop a connection bound to other settings


def create_tables() -> None:
    """Create the tables as ``template.yaml`` does (tests and local runs only)."""
    for model in MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)


def new_epoch() -> str:
    """A fresh random channel epoch."""
    return secrets.token_urlsafe(9)


class Store:
    """Reads and writes Switchboard's items; the one door to DynamoDB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        bind_models(settings)

    # ------------------------------------------------------------ connections
    def put_connection(self, record: ConnectionRecord) -> None:
        """Store a new connection (``$connect``)."""
        ConnectionModel(
            record.connection_id,
            user_id=record.user_id,
            channels=list(record.capabilities) if record.capabilities is not None else None,
            connected_at=record.connected_at,
            source_ip=record.source_ip,
            user_agent=record.user_agent,
            ttl=record.expires_at,
        ).save()

    def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        """The connection's record, or ``None`` if it is unknown (one ``GetItem``)."""
        try:
            item = ConnectionModel.get(connection_id, consistent_read=True)
        except ConnectionModel.DoesNotExist:
            return None
        channels = item.channels
        return ConnectionRecord(
            connection_id=item.connection_id,
            user_id=item.user_id,
            capabilities=tuple(str(c) for c in channels) if channels is not None else None,
            connected_at=int(item.connected_at),
            expires_at=int(item.ttl),
            source_ip=item.source_ip,
            user_agent=item.user_agent,
        )

    def delete_connection(self, connection_id: str) -> list[str]:
        """Delete a connection and all its subscriptions; returns their channels.

        Idempotent: deleting a connection twice is harmless.
        """
        ConnectionModel(connection_id).delete()
        channels = [sub.channel for sub in SubscriptionModel.by_connection.query(connection_id)]
        if channels:
            with SubscriptionModel.batch_write() as batch:
                for channel in channels:
                    batch.delete(SubscriptionModel(channel, connection_id))
        return channels

    def take_publish_slot(self, connection_id: str, window: int, limit: int) -> bool:
        """Count one publish in the connection's current window; ``False`` past ``limit``.

        One conditional ``UpdateItem`` in the common case, two when a window starts.
        """
        if limit <= 0:
            return True
        item = ConnectionModel(connection_id)
        try:
            item.update(
                actions=[ConnectionModel.rate_count.add(1)],
                condition=(ConnectionModel.rate_window == window)
                & (ConnectionModel.rate_count < limit),
            )
            return True
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise
        try:
            item.update(
                actions=[
                    ConnectionModel.rate_window.set(window),
                    ConnectionModel.rate_count.set(1),
                ],
                condition=ConnectionModel.connection_id.exists()
                & (
                    ConnectionModel.rate_window.does_not_exist()
                    | (ConnectionModel.rate_window < window)
                ),
            )
            return True
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise
        return False

    # ------------------------------------------------------------ subscriptions
    def subscribe(self, connection: ConnectionRecord, channel: str) -> None:
        """Subscribe ``connection`` to ``channel``; it expires with the connection."""
        SubscriptionModel(
            channel,
            connection.connection_id,
            user_id=connection.user_id,
            ttl=connection.expires_at,
        ).save()

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        """Remove one subscription (harmless if absent)."""
        SubscriptionModel(channel, connection_id).delete()

    def subscribers(self, channel: str) -> Iterator[str]:
        """The connection ids subscribed to ``channel``: a paginated ``Query``."""
        for sub in SubscriptionModel.query(channel, attributes_to_get=["connectionId"]):
            yield sub.connection_id

    # ------------------------------------------------------------ channels
    def channel_position(self, channel: str) -> ChannelPosition:
        """The channel's epoch and last seq (one ``GetItem``)."""
        try:
            item = ChannelModel.get(channel, consistent_read=True)
        except ChannelModel.DoesNotExist:
            return ChannelPosition(epoch=None, seq=0)
        return ChannelPosition(epoch=item.epoch, seq=int(item.seq))

    def next_seq(self, channel: str) -> ChannelPosition:
        """Give out the channel's next ``seq`` (one atomic ``UpdateItem``).

        The channel's ``epoch`` is created with its first message and kept after.
        """
        item = ChannelModel(channel)
        item.update(
            actions=[
                ChannelModel.epoch.set(ChannelModel.epoch | new_epoch()),
                ChannelModel.seq.add(1),
            ]
        )
        return ChannelPosition(epoch=item.epoch, seq=int(item.seq))

    # ------------------------------------------------------------ tokens
    def spend_token(self, jti: str, expires_at: int) -> bool:
        """Record a single-use token; ``False`` if it was spent before.

        A conditional ``PutItem``; the item expires with the token (plus leeway).
        """
        try:
            SpentTokenModel(jti, ttl=expires_at).save(
                condition=SpentTokenModel.jti.does_not_exist()
            )
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
