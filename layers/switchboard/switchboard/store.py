"""The DynamoDB store: connections, subscriptions, history, presence, spent tokens.

The only module that touches DynamoDB. Every request-path access is a ``GetItem``,
``PutItem``, ``UpdateItem``, ``DeleteItem``, ``Query`` or batch write: never a
``Scan``. A publish costs three calls and two write units for a message under 1 KB:
one ``UpdateItem`` that both counts the publish against the connection's rate limit and
reads the connection, one ``Query`` for the channel's newest message (its position), and
one conditional ``PutItem`` of the message at the next ``seq`` (the seq is taken by the
write itself: a concurrent publish that took it first makes the write fail, and it is
retried at the next one). Items that could outlive their connection carry a ``ttl`` attribute
(API Gateway closes every socket after two hours and ``$disconnect`` is
best-effort). Tables are created by ``template.yaml``; tests create the same
schema in moto (:func:`create_tables`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from switchboard.config import Settings
from switchboard.storage import (
    POSITION_KEPT_SECONDS,
    RATE_WINDOW_MODULO,
    ChannelPosition,
    ConnectionRecord,
    DeletedConnection,
    Member,
    PublishSlot,
    Subscriber,
)

logger = logging.getLogger(__name__)

CONDITION_FAILED = "ConditionalCheckFailedException"


def _error_code(exc: ClientError) -> str | None:
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code


def _conditional_failed(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause in {"ConditionalCheckFailedException", "TransactionCanceledException"}


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
    presence = UnicodeAttribute(null=True)  # the token's presence data, as JSON
    ttl = NumberAttribute()
    # p0, p1, ...: the publish rate limit's register (see Store.take_publish_slot)
    by_user: ClassVar[ConnectionsByUser] = ConnectionsByUser()


class SubscriptionsByConnection(GlobalSecondaryIndex["SubscriptionModel"]):  # type: ignore[no-untyped-call]
    """Every channel one connection is subscribed to (``$disconnect``, pruning)."""

    class Meta:
        index_name = "byConnection"
        projection = IncludeProjection(["userId"])

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
    # A recovering subscription is `pending` while the history is replayed; then it is
    # live for messages after `liveFrom` (the replay sent everything up to it).
    pending = BooleanAttribute(null=True)
    live_from = NumberAttribute(null=True, attr_name="liveFrom")
    ttl = NumberAttribute()
    by_connection: ClassVar[SubscriptionsByConnection] = SubscriptionsByConnection()


class HistoryModel(Model):
    """One published message; the newest of a channel is also the channel's position.

    A message is *kept* (replayed, paged) until ``ttl - POSITION_KEPT_SECONDS`` and while
    it is among the channel's last ``HistorySize``; the item itself stays until ``ttl``
    (DynamoDB deletes it then, for free), so a channel's ``epoch`` and ``seq`` outlive its
    kept messages by ``POSITION_KEPT_SECONDS``.
    """

    class Meta:
        table_name = "switchboard-history"
        region = "us-east-1"

    channel = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    epoch = UnicodeAttribute(null=True)
    frame = UnicodeAttribute()  # the message frame exactly as subscribers got it
    ttl = NumberAttribute()


class PresenceModel(Model):
    """One user present on a presence channel, with the connections that hold it."""

    class Meta:
        table_name = "switchboard-presence"
        region = "us-east-1"

    channel = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True, attr_name="userId")
    connections = UnicodeSetAttribute(null=True)
    data = UnicodeAttribute(null=True)
    ttl = NumberAttribute()


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
    HistoryModel,
    PresenceModel,
    SpentTokenModel,
)


def bind_models(settings: Settings) -> None:
    """Point the models at this deployment's tables (once per container)."""
    names = {
        ConnectionModel: settings.connections_table,
        SubscriptionModel: settings.subscriptions_table,
        HistoryModel: settings.history_table,
        PresenceModel: settings.presence_table,
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


def _record(item: ConnectionModel) -> ConnectionRecord:
    channels = item.channels
    return ConnectionRecord(
        connection_id=item.connection_id,
        user_id=item.user_id,
        capabilities=tuple(str(c) for c in channels) if channels is not None else None,
        connected_at=int(item.connected_at),
        expires_at=int(item.ttl),
        source_ip=item.source_ip,
        user_agent=item.user_agent,
        presence=item.presence,
    )


def _kept(item: HistoryModel, now: int) -> bool:
    """Whether a history item is still kept (not just the channel's position)."""
    return bool(item.ttl - POSITION_KEPT_SECONDS > now)


class Store:
    """Reads and writes Switchboard's items; the one door to DynamoDB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        bind_models(settings)
        self._connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)

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
            presence=record.presence,
            ttl=record.expires_at,
        ).save()

    def get_connection(self, connection_id: str) -> ConnectionRecord | None:
        """The connection's record, or ``None`` if it is unknown (one ``GetItem``)."""
        try:
            item = ConnectionModel.get(connection_id, consistent_read=True)
        except ConnectionModel.DoesNotExist:
            return None
        return _record(item)

    def delete_connection(self, connection_id: str) -> DeletedConnection:
        """Delete a connection and all its subscriptions.

        Returns its user (from the deleted item, ``None`` if it was already gone) and its
        ``(channel, user)`` subscription pairs. Idempotent: a second delete is harmless.
        """
        response = self._connection.dispatch(
            "DeleteItem",
            {
                "TableName": self.settings.connections_table,
                "Key": {"connectionId": {"S": connection_id}},
                "ReturnValues": "ALL_OLD",
            },
        )
        old = response.get("Attributes", {})
        user_id: str | None = old.get("userId", {}).get("S")
        subscriptions: list[tuple[str, str | None]] = [
            (sub.channel, sub.user_id)
            for sub in SubscriptionModel.by_connection.query(connection_id)
        ]
        if subscriptions:
            with SubscriptionModel.batch_write() as batch:
                for channel, _user in subscriptions:
                    batch.delete(SubscriptionModel(channel, connection_id))
        return DeletedConnection(user_id, subscriptions)

    def connections_of(self, user_id: str) -> Iterator[str]:
        """Every connection id of one user: a paginated ``Query`` on ``byUser``."""
        for item in ConnectionModel.by_user.query(user_id):
            yield item.connection_id

    def take_publish_slot(self, connection_id: str, window: int, limit: int) -> PublishSlot:
        """Count one publish in the connection's current window, and read the connection.

        One conditional ``UpdateItem`` returning the whole item: the connection keeps the
        windows of its last ``limit`` publishes in a register (``p0`` newest), shifted by
        every publish that is let through; a publish is refused when the oldest of them
        is in the current window (``limit`` already went through in it). A refused or
        unknown connection costs one ``GetItem`` more, to tell the two apart.
        """
        if limit <= 0:
            return PublishSlot(self.get_connection(connection_id), allowed=True)
        oldest = f"p{limit - 1}"
        shifts = ["p0 = :w", *(f"p{n} = if_not_exists(p{n - 1}, :none)" for n in range(1, limit))]
        try:
            response = self._connection.dispatch(
                "UpdateItem",
                {
                    "TableName": self.settings.connections_table,
                    "Key": {"connectionId": {"S": connection_id}},
                    "UpdateExpression": "SET " + ", ".join(shifts),
                    "ConditionExpression": (
                        f"attribute_exists(connectionId) AND "
                        f"(attribute_not_exists({oldest}) OR {oldest} <> :w)"
                    ),
                    "ExpressionAttributeValues": {
                        ":w": {"N": str(window % RATE_WINDOW_MODULO)},
                        ":none": {"N": "-1"},
                    },
                    "ReturnValues": "ALL_NEW",
                },
            )
        except ClientError as exc:
            if _error_code(exc) != CONDITION_FAILED:
                raise
            return PublishSlot(self.get_connection(connection_id), allowed=False)
        return PublishSlot(_record(ConnectionModel.from_raw_data(response["Attributes"])), True)

    # ------------------------------------------------------------ subscriptions
    def subscribe(
        self, connection: ConnectionRecord, channel: str, *, pending: bool = False
    ) -> None:
        """Subscribe ``connection`` to ``channel``; it expires with the connection.

        A ``pending`` subscription receives no live message until :meth:`go_live`.
        """
        SubscriptionModel(
            channel,
            connection.connection_id,
            user_id=connection.user_id,
            pending=True if pending else None,
            ttl=connection.expires_at,
        ).save()

    def go_live(self, connection_id: str, channel: str, through: int, *, check: bool) -> bool:
        """Make a pending subscription live for messages after ``through``.

        With ``check``, one transaction that succeeds only while the channel's last
        ``seq`` is still ``through`` (no message at ``through + 1`` yet): every later
        message then finds the subscription live, and every earlier one was replayed,
        so nothing is lost or sent twice.
        Returns ``False`` when a publish got in between (replay more, then retry).
        A subscription deleted meanwhile (``$disconnect`` or an unsubscribe ran during
        the replay) stays deleted: nothing is made live and ``True`` is returned.
        """
        subscription = SubscriptionModel(channel, connection_id)
        actions: list[Action] = [
            SubscriptionModel.live_from.set(through),
            SubscriptionModel.pending.remove(),
        ]
        still_there = SubscriptionModel.channel.exists()
        if not check:
            try:
                subscription.update(actions=actions, condition=still_there)
            except UpdateError as exc:
                if not _conditional_failed(exc):
                    raise
            return True
        with_next = HistoryModel(channel, through + 1)  # the next message is not written yet
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.condition_check(
                    HistoryModel,
                    with_next.channel,
                    with_next.seq,
                    condition=HistoryModel.channel.does_not_exist(),
                )
                transaction.update(subscription, actions=actions, condition=still_there)
        except TransactWriteError as exc:
            if not _conditional_failed(exc):
                raise
            # True when the subscription is gone (never recreate it: it had the TTL);
            # False when the channel moved on (a publish got in between).
            reasons = exc.cancellation_reasons
            return (
                len(reasons) == 2
                and reasons[1] is not None
                and reasons[1].code == "ConditionalCheckFailed"
            )
        return True

    def unsubscribe(self, connection_id: str, channel: str) -> None:
        """Remove one subscription (harmless if absent)."""
        SubscriptionModel(channel, connection_id).delete()

    def subscribers(self, channel: str) -> Iterator[Subscriber]:
        """The subscriptions of ``channel``: a paginated, strongly consistent ``Query``."""
        for sub in SubscriptionModel.query(channel, consistent_read=True):
            yield Subscriber(
                connection_id=sub.connection_id,
                pending=bool(sub.pending),
                live_from=int(sub.live_from) if sub.live_from is not None else None,
            )

    # ------------------------------------------------------------ history
    def append_message(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int
    ) -> bool:
        """Write the message at ``seq``; ``False`` if a concurrent publish took it first.

        One conditional ``PutItem``: this write is what gives out the ``seq``. The item
        is kept until ``expires_at`` and stays as the channel's position for
        ``POSITION_KEPT_SECONDS`` more.
        """
        item = HistoryModel(
            channel, seq, epoch=epoch, frame=frame, ttl=expires_at + POSITION_KEPT_SECONDS
        )
        try:
            item.save(condition=HistoryModel.channel.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def history_after(
        self, channel: str, after: int, limit: int, now: int
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` kept messages with ``seq > after``, oldest first (one ``Query``)."""
        items = HistoryModel.query(
            channel,
            HistoryModel.seq > after,
            consistent_read=True,
            limit=limit,
            page_size=limit,
        )
        return [(int(item.seq), item.frame) for item in items if _kept(item, now)]

    def history_before(
        self, channel: str, before: int, limit: int, now: int, *, oldest: int = 1
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` kept messages with ``oldest <= seq < before``, newest first."""
        if before <= oldest:
            return []
        items = HistoryModel.query(
            channel,
            HistoryModel.seq.between(oldest, before - 1),
            consistent_read=True,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
        )
        return [(int(item.seq), item.frame) for item in items if _kept(item, now)]

    # ------------------------------------------------------------ presence
    def presence_join(
        self, channel: str, user_id: str, connection_id: str, data: str | None, expires_at: int
    ) -> bool:
        """Count a connection of ``user_id`` on ``channel``; ``True`` if the user was absent."""
        update = "ADD #c :c SET #t = :t"
        values: dict[str, Any] = {":c": {"SS": [connection_id]}, ":t": {"N": str(expires_at)}}
        names = {"#c": "connections", "#t": "ttl"}
        if data is not None:
            update += ", #d = :d"
            values[":d"] = {"S": data}
            names["#d"] = "data"
        response = self._connection.dispatch(
            "UpdateItem",
            {
                "TableName": self.settings.presence_table,
                "Key": {"channel": {"S": channel}, "userId": {"S": user_id}},
                "UpdateExpression": update,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValues": "UPDATED_OLD",
            },
        )
        old = response.get("Attributes", {}).get("connections", {}).get("SS", [])
        return not old

    def presence_leave(self, channel: str, user_id: str, connection_id: str) -> bool:
        """Remove one connection of ``user_id``; ``True`` if it was the user's last."""
        try:
            response = self._connection.dispatch(
                "UpdateItem",
                {
                    "TableName": self.settings.presence_table,
                    "Key": {"channel": {"S": channel}, "userId": {"S": user_id}},
                    "UpdateExpression": "DELETE #c :c",
                    "ConditionExpression": "contains(#c, :id)",
                    "ExpressionAttributeNames": {"#c": "connections"},
                    "ExpressionAttributeValues": {
                        ":c": {"SS": [connection_id]},
                        ":id": {"S": connection_id},
                    },
                    "ReturnValues": "ALL_NEW",
                },
            )
        except ClientError as exc:
            if _error_code(exc) == CONDITION_FAILED:
                return False  # already gone: its leave was announced before
            raise
        if response.get("Attributes", {}).get("connections", {}).get("SS"):
            return False
        try:
            PresenceModel(channel, user_id).delete(
                condition=PresenceModel.connections.does_not_exist()
            )
        except Exception as exc:
            if not _conditional_failed(exc):
                raise
            return False  # another tab joined meanwhile
        return True

    def presence_members(self, channel: str, limit: int, now: int) -> list[Member]:
        """Up to ``limit`` live members (a paginated ``Query``, one page when nothing expired).

        Expired entries (DynamoDB's TTL deletes lazily) are skipped without counting
        towards ``limit``, so they can neither shorten the list nor hide the cap.
        """
        members: list[Member] = []
        for item in PresenceModel.query(channel, consistent_read=True, page_size=limit):
            if item.ttl <= now or not item.connections:
                continue
            members.append(
                Member(user_id=item.user_id, data=item.data, connections=len(item.connections))
            )
            if len(members) == limit:
                break
        return members

    # ------------------------------------------------------------ channels
    def channel_position(self, channel: str, now: int) -> ChannelPosition:
        """The channel's epoch and last seq: its newest history item (one ``Query``).

        A channel whose newest item outlived ``POSITION_KEPT_SECONDS`` (DynamoDB deletes
        expired items within days, in no order) has lost its position: its epoch is
        ``None`` and its next message starts a new one, continuing the ``seq``.
        """
        for item in HistoryModel.query(
            channel, consistent_read=True, scan_index_forward=False, limit=1, page_size=1
        ):
            epoch = item.epoch if item.ttl > now else None
            return ChannelPosition(epoch=epoch, seq=int(item.seq))
        return ChannelPosition(epoch=None, seq=0)

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
