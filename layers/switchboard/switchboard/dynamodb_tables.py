"""The DynamoDB tables as pynamodb models: their keys, indexes and attributes.

Owns the schema (the same as ``template.yaml``'s tables; tests create it in moto with
:func:`create_tables`) and binding the models to one deployment's table names
(:func:`bind_models`, once per container: tests and benchmarks read items through these
models, so they are bound rather than copied per store).
"""

from __future__ import annotations

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
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from switchboard.config import Settings

CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(exc: ClientError) -> str | None:
    code: str | None = exc.response.get("Error", {}).get("Code")
    return code


def conditional_failed(exc: Exception) -> bool:
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
    claims = UnicodeAttribute(null=True)  # the token's claims, as JSON (only with hooks)
    meta = UnicodeAttribute(null=True)  # on_connect's metadata, as JSON (only with hooks)
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


class PublishKeyModel(Model):
    """A publish's idempotency key, in the history table next to the messages.

    Its hash key is ``#`` followed by the key (``#`` is never in a channel name, so no
    channel's messages share it) and its range key is always 0; it holds the first
    publish's position and is written in the same transaction as that message. Not in
    :data:`MODELS`: it has no table of its own.
    """

    class Meta:
        table_name = "switchboard-history"
        region = "us-east-1"

    key = UnicodeAttribute(hash_key=True, attr_name="channel")
    zero = NumberAttribute(range_key=True, attr_name="seq", default=0)
    epoch = UnicodeAttribute()
    first_seq = NumberAttribute(attr_name="firstSeq")
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
        PublishKeyModel: settings.history_table,
        PresenceModel: settings.presence_table,
        SpentTokenModel: settings.tokens_table,
    }
    for model, table_name in names.items():
        model.Meta.table_name = table_name
        model.Meta.region = settings.region
        model.Meta.host = settings.dynamodb_endpoint
        model._connection = None  # drop a connection bound to other settings


def share_connection(connection: Connection) -> None:
    """Route every model's calls through ``connection``, so that a container has one botocore
    client and loads DynamoDB's service model once: pynamodb gives each model a connection
    with its own botocore session and client, each loading the model again on first use
    (tens of milliseconds per table on a cold start). The calls themselves are unchanged."""
    for model in MODELS:
        table = model._get_connection()
        connection.add_meta_table(table.get_meta_table())  # the schema, no DescribeTable
        table.connection = connection


def shared_client() -> Any:
    """The botocore DynamoDB client every model calls through (:func:`share_connection`),
    made on first use: other code of the container (the channel states of the events
    function) calls DynamoDB through it rather than loading DynamoDB's model again."""
    return MODELS[0]._get_connection().connection.client


def create_tables() -> None:
    """Create the tables as ``template.yaml`` does (tests and local runs only)."""
    for model in MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
