"""Backend events: DynamoDB stream records of the tables turned into the app's events.

The events function (``functions/events``) reads the streams of the connections,
subscriptions and presence tables, so every change of the store is seen, whoever made it:
``$connect``, ``$disconnect``, a fan-out that pruned a gone connection (410), or DynamoDB's
TTL deleting what outlived a connection whose ``$disconnect`` never ran. Each record maps
to at most one event (docs/events.md holds every schema):

==========================  ==========================================================
``connection.opened``       a connection item inserted (``$connect``)
``connection.closed``       a connection item removed; ``reason`` ``expired`` when
                            DynamoDB's TTL removed it, else ``disconnect``
``presence.joined``         a presence item gained its first connection
``presence.left``           a presence item lost its last one (or expired)
``channel.occupied``        a subscription inserted into a channel held by nobody
``channel.vacated``         a subscription removed and none is left on the channel
==========================  ==========================================================

The last two need the channel's state, kept by :class:`Occupancy` (a ``Query`` of the
subscriptions table, ``Limit`` 1, and a conditional write of the channel's state); the
others are read from the record alone. ``eventId`` is derived from the record's
``eventID`` and the event type, so a batch that Lambda retries yields the same ids.

Errors: :class:`MalformedRecordError` (a record that is not a DynamoDB stream record of
these tables' shape).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from switchboard import stream_images

logger = logging.getLogger(__name__)

SOURCE = "switchboard"
# The principal of a deletion made by DynamoDB's TTL (AWS: "Time to Live and DynamoDB
# Streams": userIdentity type "Service", principalId "dynamodb.amazonaws.com").
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


class EventType(StrEnum):
    """The ``detail-type`` of each backend event."""

    CONNECTION_OPENED = "connection.opened"
    CONNECTION_CLOSED = "connection.closed"
    PRESENCE_JOINED = "presence.joined"
    PRESENCE_LEFT = "presence.left"
    CHANNEL_OCCUPIED = "channel.occupied"
    CHANNEL_VACATED = "channel.vacated"


class Reason(StrEnum):
    """Why something ended: Switchboard deleted it, or DynamoDB's TTL did."""

    DISCONNECT = "disconnect"  # $disconnect, an unsubscribe or a prune after a 410
    EXPIRED = "expired"  # DynamoDB's TTL: the connection vanished without $disconnect


class MalformedRecordError(ValueError):
    """A record that is not a DynamoDB stream record of the shape these tables write."""


@dataclass(frozen=True)
class BackendEvent:
    """One event for the app: its type, stable id, time (ms) and what it is about."""

    type: EventType
    event_id: str
    ts: int
    connection_id: str | None = None
    user_id: str | None = None
    channel: str | None = None
    reason: Reason | None = None

    def detail(self) -> dict[str, Any]:
        """The event's ``detail``: ``eventId``, ``ts`` and the fields that apply."""
        out: dict[str, Any] = {"eventId": self.event_id, "ts": self.ts}
        for key, value in (
            ("connectionId", self.connection_id),
            ("userId", self.user_id),
            ("channel", self.channel),
            ("reason", self.reason),
        ):
            if value is not None:
                out[key] = str(value)
        return out


@dataclass(frozen=True)
class StreamRecord:
    """What a Lambda DynamoDB stream record says, with its images as plain values."""

    event_id: str
    name: str  # INSERT, MODIFY or REMOVE
    table: str
    sequence_number: str
    ts: int  # ms: ApproximateCreationDateTime
    keys: Mapping[str, Any]
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None
    by_ttl: bool = False


def _image(raw: Any) -> dict[str, Any] | None:
    try:
        return stream_images.image(raw)
    except stream_images.MalformedImageError as exc:
        raise MalformedRecordError(str(exc)) from None


def table_of(arn: str) -> str:
    """The table name in a stream ARN (``arn:...:table/NAME/stream/LABEL``)."""
    _, _, rest = arn.partition(":table/")
    name = rest.split("/stream/", 1)[0]
    if not rest or not name:
        raise MalformedRecordError(f"not a DynamoDB stream ARN: {arn!r}")
    return name


def parse_record(raw: Mapping[str, Any]) -> StreamRecord:
    """A Lambda DynamoDB stream record (AWS's sample: sam local generate-event dynamodb)."""
    try:
        body = raw["dynamodb"]
        name = str(raw["eventName"])
        if name not in ("INSERT", "MODIFY", "REMOVE"):
            raise MalformedRecordError(f"unknown eventName {name!r}")
        identity = raw.get("userIdentity") or {}
        return StreamRecord(
            event_id=str(raw["eventID"]),
            name=name,
            table=table_of(str(raw["eventSourceARN"])),
            sequence_number=str(body["SequenceNumber"]),
            ts=int(float(body["ApproximateCreationDateTime"]) * 1000),
            keys=_image(body["Keys"]) or {},
            new=_image(body.get("NewImage")),
            old=_image(body.get("OldImage")),
            by_ttl=identity.get("type") == "Service"
            and identity.get("principalId") == TTL_PRINCIPAL,
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MalformedRecordError):
            raise
        raise MalformedRecordError(f"not a DynamoDB stream record: {exc!r}") from None


def event_id(record_event_id: str, kind: EventType) -> str:
    """A stable id: the same record and type give the same id on every delivery."""
    digest = hashlib.sha256(f"{record_event_id}/{kind}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _event(record: StreamRecord, kind: EventType, **fields: Any) -> BackendEvent:
    return BackendEvent(type=kind, event_id=event_id(record.event_id, kind), ts=record.ts, **fields)


def _reason(record: StreamRecord) -> Reason:
    return Reason.EXPIRED if record.by_ttl else Reason.DISCONNECT


def _text(image: Mapping[str, Any] | None, key: str) -> str | None:
    value = (image or {}).get(key)
    return value if isinstance(value, str) else None


def connection_event(record: StreamRecord) -> BackendEvent | None:
    """``connection.opened`` for an insert, ``connection.closed`` for a removal."""
    connection_id = _text(record.keys, "connectionId")
    if connection_id is None:
        raise MalformedRecordError("a connections record without connectionId")
    if record.name == "INSERT":
        user = _text(record.new, "userId")
        return _event(
            record, EventType.CONNECTION_OPENED, connection_id=connection_id, user_id=user
        )
    if record.name == "REMOVE":
        user = _text(record.old, "userId")
        return _event(
            record,
            EventType.CONNECTION_CLOSED,
            connection_id=connection_id,
            user_id=user,
            reason=_reason(record),
        )
    return None  # a publish counted against the rate limit: nothing for the app


def _only(connections: set[str] | frozenset[str]) -> str | None:
    """The connection id when there is exactly one (the event names it), else ``None``."""
    return next(iter(connections)) if len(connections) == 1 else None


def _members(image: Mapping[str, Any] | None) -> set[str]:
    if image is None:
        return set()
    connections = image.get("connections")
    return {str(c) for c in connections} if isinstance(connections, set) else set()


def presence_event(record: StreamRecord) -> BackendEvent | None:
    """``presence.joined`` when a user's first connection arrives, ``presence.left`` when
    the last one goes (DynamoDB drops an emptied set; the item is then deleted)."""
    channel, user = _text(record.keys, "channel"), _text(record.keys, "userId")
    if channel is None or user is None:
        raise MalformedRecordError("a presence record without channel and userId")
    before, after = _members(record.old), _members(record.new)
    if not before and after:
        return _event(
            record,
            EventType.PRESENCE_JOINED,
            channel=channel,
            user_id=user,
            connection_id=_only(after),
        )
    if before and not after:
        return _event(
            record,
            EventType.PRESENCE_LEFT,
            channel=channel,
            user_id=user,
            connection_id=_only(before),
            reason=_reason(record),
        )
    return None


class Occupancy(Protocol):
    """Whether a channel is held: the channel state that ``occupied``/``vacated`` move."""

    def occupy(self, channel: str, event_id: str, now: int) -> bool:
        """Mark ``channel`` occupied; ``True`` if this event is what occupied it (again
        ``True`` for the same ``event_id``: a redelivered record emits its event again)."""
        ...

    def vacate_if_empty(self, channel: str, event_id: str, now: int) -> bool:
        """Mark ``channel`` vacated if no subscription is left; ``True`` if this event
        vacated it (``True`` again for the same ``event_id``)."""
        ...


def subscription_event(record: StreamRecord, occupancy: Occupancy) -> BackendEvent | None:
    """``channel.occupied`` for the subscription that made a channel held,
    ``channel.vacated`` for the removal that left it empty."""
    channel, connection_id = _text(record.keys, "channel"), _text(record.keys, "connectionId")
    if channel is None or connection_id is None:
        raise MalformedRecordError("a subscriptions record without channel and connectionId")
    if record.name == "INSERT":
        kind = EventType.CHANNEL_OCCUPIED
        user = _text(record.new, "userId")
        if not occupancy.occupy(channel, event_id(record.event_id, kind), record.ts // 1000):
            return None
        return _event(record, kind, channel=channel, connection_id=connection_id, user_id=user)
    if record.name == "REMOVE":
        kind = EventType.CHANNEL_VACATED
        user = _text(record.old, "userId")
        if not occupancy.vacate_if_empty(
            channel, event_id(record.event_id, kind), record.ts // 1000
        ):
            return None
        return _event(
            record,
            kind,
            channel=channel,
            connection_id=connection_id,
            user_id=user,
            reason=_reason(record),
        )
    return None  # a recovering subscription going live


@dataclass(frozen=True)
class Tables:
    """The names of the three tables whose streams are read."""

    connections: str
    subscriptions: str
    presence: str


def record_event(record: StreamRecord, tables: Tables, occupancy: Occupancy) -> BackendEvent | None:
    """The event one record means, if any (a record of another table means none)."""
    if record.table == tables.connections:
        return connection_event(record)
    if record.table == tables.presence:
        return presence_event(record)
    if record.table == tables.subscriptions:
        return subscription_event(record, occupancy)
    logger.warning("a stream record of an unknown table", extra={"table": record.table})
    return None


class Bus(Protocol):
    """Where events go (EventBridge's PutEvents, or a list in tests)."""

    def put(self, events: Sequence[BackendEvent]) -> list[bool]:
        """Put ``events``; one flag per event, ``True`` for those accepted."""
        ...


@dataclass
class BatchResult:
    """What a batch of records gave: the events put and the records to retry."""

    events: list[BackendEvent] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # sequence numbers (the earliest)

    def response(self) -> dict[str, list[dict[str, str]]]:
        """Lambda's partial batch response (``ReportBatchItemFailures``)."""
        return {"batchItemFailures": [{"itemIdentifier": s} for s in self.failed]}


def process(
    records: Iterable[Mapping[str, Any]], tables: Tables, occupancy: Occupancy, bus: Bus
) -> BatchResult:
    """Map a batch of stream records to events, in order, and put them on the bus.

    Lambda retries a stream from the lowest failed sequence number on, so the first
    record that cannot be mapped stops the batch (the records after it are not put: they
    come again), and the earliest record with an event the bus refused (after its
    retries) is the one reported. A malformed record is logged and skipped: retrying it
    could never succeed and would hold the shard back.
    """
    result = BatchResult()
    pending: list[tuple[str, BackendEvent]] = []
    stopped: str | None = None
    for raw in records:
        try:
            record = parse_record(raw)
        except MalformedRecordError as exc:
            logger.error("a malformed stream record was skipped", extra={"error": str(exc)})
            continue
        try:
            event = record_event(record, tables, occupancy)
        except MalformedRecordError as exc:
            logger.error("a malformed stream record was skipped", extra={"error": str(exc)})
            continue
        except Exception:
            logger.exception("a stream record could not be mapped; retrying from it")
            stopped = record.sequence_number
            break
        if event is not None:
            pending.append((record.sequence_number, event))
    accepted = bus.put([event for _, event in pending]) if pending else []
    for (sequence_number, event), ok in zip(pending, accepted, strict=True):
        if not ok:
            result.failed.append(sequence_number)
            break
        result.events.append(event)
    if stopped is not None and not result.failed:
        result.failed.append(stopped)
    return result


def entry(event: BackendEvent, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of an event (``Time`` is the record's time)."""
    from datetime import UTC, datetime

    return {
        "Source": SOURCE,
        "DetailType": str(event.type),
        "Detail": json.dumps(event.detail(), separators=(",", ":")),
        "EventBusName": bus_name,
        "Time": datetime.fromtimestamp(event.ts / 1000, UTC),
        "Resources": [],
    }
