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
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from switchboard.config import Settings
from switchboard.dynamodb_tables import (
    CONDITION_FAILED,
    MODELS,
    ConnectionModel,
    HistoryModel,
    PresenceModel,
    PublishKeyModel,
    SpentTokenModel,
    SubscriptionModel,
    bind_models,
    conditional_failed,
    create_tables,
    error_code,
    share_connection,
)
from switchboard.storage import (
    POSITION_KEPT_SECONDS,
    PUBLISH_KEY_SECONDS,
    RATE_WINDOW_MODULO,
    ChannelPosition,
    ConnectionRecord,
    DeletedConnection,
    FirstPublish,
    Member,
    PublishSlot,
    Subscriber,
)

# The models and schema helpers, for code that reads items directly (tests, benchmarks).
__all__ = [
    "MODELS",
    "POSITION_KEPT_SECONDS",
    "ConnectionModel",
    "HistoryModel",
    "PresenceModel",
    "SpentTokenModel",
    "Store",
    "SubscriptionModel",
    "bind_models",
    "create_tables",
]

logger = logging.getLogger(__name__)


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
        claims=item.claims,
        meta=item.meta,
    )


def _kept(item: HistoryModel, now: int) -> bool:
    """Whether a history item is still kept (not just the channel's position)."""
    return bool(item.ttl - POSITION_KEPT_SECONDS > now)


class _Tables:
    """One deployment's tables: the models bound once, and one pynamodb connection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        bind_models(settings)
        self._connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
        share_connection(self._connection)  # one botocore client, made on the first call


class _ConnectionItems(_Tables):
    """:class:`~switchboard.storage.Connections` on the connections table."""

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
            claims=record.claims,
            meta=record.meta,
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

    def replace_capabilities(
        self, connection_id: str, capabilities: tuple[str, ...] | None, presence: str | None
    ) -> bool:
        """One conditional ``UpdateItem``: the fresh token's ``channels`` and ``presence``."""
        actions: list[Action] = [
            ConnectionModel.channels.set(list(capabilities))  # type: ignore[arg-type]
            if capabilities is not None
            else ConnectionModel.channels.remove(),
            ConnectionModel.presence.set(presence)
            if presence is not None
            else ConnectionModel.presence.remove(),
        ]
        try:
            ConnectionModel(connection_id).update(
                actions=actions, condition=ConnectionModel.connection_id.exists()
            )
        except UpdateError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True

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
            if error_code(exc) != CONDITION_FAILED:
                raise
            return PublishSlot(self.get_connection(connection_id), allowed=False)
        return PublishSlot(_record(ConnectionModel.from_raw_data(response["Attributes"])), True)


class _SubscriptionItems(_Tables):
    """:class:`~switchboard.storage.Subscriptions` on the subscriptions table."""

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
                if not conditional_failed(exc):
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
            if not conditional_failed(exc):
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

    def channels_of(self, connection_id: str) -> list[str]:
        """The connection's subscribed channels: a paginated ``Query`` on ``byConnection``."""
        return [sub.channel for sub in SubscriptionModel.by_connection.query(connection_id)]

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


class _HistoryItems(_Tables):
    """:class:`~switchboard.storage.ChannelLog` on the history table."""

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
            if conditional_failed(exc):
                return False
            raise
        return True

    def append_message_once(
        self, channel: str, seq: int, epoch: str, frame: str, expires_at: int, *, key: str, now: int
    ) -> bool | FirstPublish:
        """Write the message at ``seq`` and its idempotency key in one ``TransactWriteItems``.

        The key item is written unless a live one (``ttl >= now``) is there; when it is,
        the cancelled transaction returns it (``ALL_OLD``), so a duplicate costs this one
        call too. Two items in a transaction bill 2 write units each per KB.
        """
        message = HistoryModel(
            channel, seq, epoch=epoch, frame=frame, ttl=expires_at + POSITION_KEPT_SECONDS
        )
        marker = PublishKeyModel(
            f"#{key}", epoch=epoch, first_seq=seq, ttl=now + PUBLISH_KEY_SECONDS
        )
        try:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(
                    marker,
                    condition=PublishKeyModel.key.does_not_exist() | (PublishKeyModel.ttl < now),
                    return_values="ALL_OLD",
                )
                transaction.save(message, condition=HistoryModel.channel.does_not_exist())
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons
            first = reasons[0] if reasons else None
            if first is not None and first.code == "ConditionalCheckFailed" and first.raw_item:
                seen = PublishKeyModel.from_raw_data(first.raw_item)
                return FirstPublish(int(seen.first_seq), seen.epoch)
            if conditional_failed(exc):
                return False  # the seq was taken (or a concurrent transaction held it)
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


class _PresenceItems(_Tables):
    """:class:`~switchboard.storage.Presence` on the presence table."""

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
            if error_code(exc) == CONDITION_FAILED:
                return False  # already gone: its leave was announced before
            raise
        if response.get("Attributes", {}).get("connections", {}).get("SS"):
            return False
        try:
            PresenceModel(channel, user_id).delete(
                condition=PresenceModel.connections.does_not_exist()
            )
        except Exception as exc:
            if not conditional_failed(exc):
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


class _TokenItems(_Tables):
    """:class:`~switchboard.storage.SpentTokens` on the tokens table."""

    def spend_token(self, jti: str, expires_at: int) -> bool:
        """Record a single-use token; ``False`` if it was spent before.

        A conditional ``PutItem``; the item expires with the token (plus leeway).
        """
        try:
            SpentTokenModel(jti, ttl=expires_at).save(
                condition=SpentTokenModel.jti.does_not_exist()
            )
        except PutError as exc:
            if conditional_failed(exc):
                return False
            raise
        return True


class Store(_ConnectionItems, _SubscriptionItems, _HistoryItems, _PresenceItems, _TokenItems):
    """Reads and writes Switchboard's items: every :class:`~switchboard.storage.Storage`
    role on DynamoDB, the one door to it."""
