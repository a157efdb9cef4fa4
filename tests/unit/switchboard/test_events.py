"""The stream record -> backend event mapping, and the batching onto EventBridge, with
plain values: records in the shape of AWS's sample (tests/aws_artefacts/events/
DynamoDBUpdate.json), an in-memory occupancy and bus, a fake EventBridge client."""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.session
import pytest

from switchboard import eventbus, events
from switchboard.eventbus import EventBridgeBus, MemoryBus
from switchboard.events import EventType, MalformedRecordError, Reason
from switchboard.occupancy import MemoryOccupancy
from tests.conftest import ROOT

SAMPLE = json.loads((ROOT / "tests/aws_artefacts/events/DynamoDBUpdate.json").read_text())
TABLES = events.Tables(connections="conns", subscriptions="subs", presence="pres")
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def record(
    table: str,
    name: str,
    keys: dict[str, Any],
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    *,
    seq: int = 1,
    ttl: bool = False,
) -> dict[str, Any]:
    """A record as AWS's sample writes one (its REMOVE, INSERT or MODIFY), ours filled in."""
    index = {"INSERT": 0, "MODIFY": 1, "REMOVE": 2}[name]
    out: dict[str, Any] = copy.deepcopy(SAMPLE["Records"][index])
    out["eventID"] = f"id-{table}-{seq}"
    out["awsRegion"] = "us-east-1"
    out["eventSourceARN"] = (
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-12-01T00:00:00.000"
    )
    body = out["dynamodb"]
    body["Keys"] = {k: {"S": v} for k, v in keys.items()}
    body["SequenceNumber"] = str(seq)
    body.pop("NewImage", None)
    body.pop("OldImage", None)
    for image, values in (("NewImage", new), ("OldImage", old)):
        if values is not None:
            body[image] = {**body["Keys"], **values}
    if ttl:
        out["userIdentity"] = dict(TTL_IDENTITY)
    return out


def conn(name: str, cid: str = "C1", user: str = "alice", **kw: Any) -> dict[str, Any]:
    image = {"userId": {"S": user}, "ttl": {"N": "1"}}
    return record(
        "conns",
        name,
        {"connectionId": cid},
        new=image if name != "REMOVE" else None,
        old=image if name != "INSERT" else None,
        **kw,
    )


def sub(name: str, channel: str, cid: str, **kw: Any) -> dict[str, Any]:
    image = {"userId": {"S": f"user-{cid}"}}
    return record(
        "subs",
        name,
        {"channel": channel, "connectionId": cid},
        new=image if name == "INSERT" else None,
        old=image if name == "REMOVE" else None,
        **kw,
    )


def pres(
    name: str, user: str, before: list[str] | None, after: list[str] | None, **kw: Any
) -> dict[str, Any]:
    def image(connections: list[str] | None) -> dict[str, Any] | None:
        if connections is None:
            return None
        return {"connections": {"SS": connections}} if connections else {"ttl": {"N": "5"}}

    return record(
        "pres",
        name,
        {"channel": "presence-room", "userId": user},
        new=image(after),
        old=image(before),
        **kw,
    )


class Harness:
    """The mapping with an in-memory subscriptions table, occupancy and bus."""

    def __init__(self) -> None:
        self.subscribed: dict[str, set[str]] = {}
        self.occupancy = MemoryOccupancy(lambda channel: len(self.subscribed.get(channel, ())))
        self.bus = MemoryBus()

    def run(self, *records: dict[str, Any]) -> events.BatchResult:
        for raw in records:  # the table as it is once these records were written
            keys = raw["dynamodb"]["Keys"]
            if raw["eventSourceARN"].split("/")[1] == "subs":
                members = self.subscribed.setdefault(keys["channel"]["S"], set())
                if raw["eventName"] == "INSERT":
                    members.add(keys["connectionId"]["S"])
                elif raw["eventName"] == "REMOVE":
                    members.discard(keys["connectionId"]["S"])
        return events.process(records, TABLES, self.occupancy, self.bus)

    def kinds(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (str(e.type), {k: v for k, v in e.detail().items() if k not in ("eventId", "ts")})
            for e in self.bus.events
        ]


def test_the_sample_record_of_aws_parses_with_its_images() -> None:
    parsed = events.parse_record(
        SAMPLE["Records"][1] | {"eventSourceARN": "arn:aws:dynamodb:r:1:table/T/stream/x"}
    )
    assert (parsed.name, parsed.table, parsed.sequence_number) == (
        "MODIFY",
        "T",
        "4421584500000000017450439092",
    )
    assert parsed.keys == {"Id": 101}
    assert parsed.new == {"Message": "This item has changed", "Id": 101}
    assert parsed.old == {"Message": "New item!", "Id": 101}
    assert parsed.ts == 1428537600 * 1000
    assert parsed.by_ttl is False


def test_connections_open_and_close_with_the_reason_of_who_deleted() -> None:
    h = Harness()
    result = h.run(
        conn("INSERT", seq=1),
        conn("MODIFY", seq=2),  # a publish counted: nothing
        conn("REMOVE", seq=3),
        conn("INSERT", "C2", "bob", seq=4),
        conn("REMOVE", "C2", "bob", seq=5, ttl=True),
    )
    assert result.failed == []
    assert h.kinds() == [
        ("connection.opened", {"connectionId": "C1", "userId": "alice"}),
        ("connection.closed", {"connectionId": "C1", "userId": "alice", "reason": "disconnect"}),
        ("connection.opened", {"connectionId": "C2", "userId": "bob"}),
        ("connection.closed", {"connectionId": "C2", "userId": "bob", "reason": "expired"}),
    ]
    assert result.response() == {"batchItemFailures": []}


def test_a_channel_is_occupied_by_its_first_subscriber_and_vacated_by_its_last() -> None:
    h = Harness()
    h.run(sub("INSERT", "room", "A", seq=1), sub("INSERT", "room", "B", seq=2))
    h.run(sub("REMOVE", "room", "A", seq=3))
    h.run(sub("REMOVE", "room", "B", seq=4, ttl=True))
    h.run(sub("INSERT", "room", "C", seq=5))
    assert h.kinds() == [
        ("channel.occupied", {"connectionId": "A", "userId": "user-A", "channel": "room"}),
        (
            "channel.vacated",
            {"connectionId": "B", "userId": "user-B", "channel": "room", "reason": "expired"},
        ),
        ("channel.occupied", {"connectionId": "C", "userId": "user-C", "channel": "room"}),
    ]


def test_two_first_subscribers_racing_occupy_once_and_two_last_leaving_vacate_once() -> None:
    h = Harness()
    h.subscribed["room"] = {"A", "B"}  # both written before either record is read
    h.run(sub("INSERT", "room", "A", seq=1), sub("INSERT", "room", "B", seq=2))
    h.subscribed["room"] = set()
    h.run(sub("REMOVE", "room", "A", seq=3), sub("REMOVE", "room", "B", seq=4))
    assert [kind for kind, _ in h.kinds()] == ["channel.occupied", "channel.vacated"]


def test_presence_joins_on_the_first_connection_and_leaves_after_the_last() -> None:
    h = Harness()
    h.run(
        pres("INSERT", "alice", None, ["A"], seq=1),
        pres("MODIFY", "alice", ["A"], ["A", "B"], seq=2),  # a second tab: nothing
        pres("MODIFY", "alice", ["A", "B"], ["B"], seq=3),
        pres("MODIFY", "alice", ["B"], [], seq=4),  # the set emptied: left
        pres("REMOVE", "alice", [], None, seq=5),  # then the item deleted: nothing more
        pres("INSERT", "bob", None, ["X"], seq=6),
        pres("REMOVE", "bob", ["X"], None, seq=7, ttl=True),
    )
    assert h.kinds() == [
        ("presence.joined", {"connectionId": "A", "userId": "alice", "channel": "presence-room"}),
        (
            "presence.left",
            {
                "connectionId": "B",
                "userId": "alice",
                "channel": "presence-room",
                "reason": "disconnect",
            },
        ),
        ("presence.joined", {"connectionId": "X", "userId": "bob", "channel": "presence-room"}),
        (
            "presence.left",
            {"connectionId": "X", "userId": "bob", "channel": "presence-room", "reason": "expired"},
        ),
    ]


def test_event_ids_are_stable_across_redelivery_and_distinct_per_record() -> None:
    first, second = Harness(), Harness()
    batch = [conn("INSERT", seq=1), conn("REMOVE", seq=2), sub("INSERT", "r", "A", seq=3)]
    first.run(*batch)
    second.run(*copy.deepcopy(batch))
    ids = [e.event_id for e in first.bus.events]
    assert ids == [e.event_id for e in second.bus.events]
    assert len(set(ids)) == 3
    assert ids[0] == events.event_id("id-conns-1", EventType.CONNECTION_OPENED)
    assert events.event_id("x", EventType.CONNECTION_OPENED) != events.event_id(
        "x", EventType.CONNECTION_CLOSED
    )


def test_a_refused_event_reports_its_record_and_its_redelivery_emits_it_again() -> None:
    h = Harness()
    batch = [sub("INSERT", "room", "A", seq=1), conn("INSERT", seq=2), conn("REMOVE", seq=3)]
    occupied_id = events.event_id("id-subs-1", EventType.CHANNEL_OCCUPIED)
    h.bus.refuse = {events.event_id("id-conns-2", EventType.CONNECTION_OPENED)}
    result = h.run(*batch)
    assert result.failed == ["2"]  # Lambda retries from it
    assert [e.event_id for e in result.events] == [occupied_id]
    h.bus.refuse = set()
    again = events.process(batch, TABLES, h.occupancy, h.bus)  # the whole batch, redelivered
    assert again.failed == []
    assert [e.type for e in again.events] == [
        EventType.CHANNEL_OCCUPIED,  # same id: the channel's state remembers who moved it
        EventType.CONNECTION_OPENED,
        EventType.CONNECTION_CLOSED,
    ]
    assert again.events[0].event_id == occupied_id


class BrokenOccupancy(MemoryOccupancy):
    def occupy(self, channel: str, event_id: str, now: int) -> bool:
        raise ConnectionError("DynamoDB is unreachable")


def test_a_record_that_cannot_be_mapped_stops_the_batch_there() -> None:
    bus = MemoryBus()
    batch = [conn("INSERT", seq=1), sub("INSERT", "room", "A", seq=2), conn("REMOVE", seq=3)]
    result = events.process(batch, TABLES, BrokenOccupancy(lambda _c: 0), bus)
    assert result.failed == ["2"]
    assert [e.type for e in bus.events] == [EventType.CONNECTION_OPENED]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({}, id="empty"),
        pytest.param({**conn("INSERT"), "eventName": "TRUNCATE"}, id="unknown-name"),
        pytest.param({**conn("INSERT"), "eventSourceARN": "arn:aws:sqs:x"}, id="not-a-stream"),
        pytest.param(
            {
                **conn("INSERT"),
                "dynamodb": {**conn("INSERT")["dynamodb"], "Keys": {"connectionId": {"Q": 1}}},
            },
            id="bad-value",
        ),
        pytest.param(
            {**conn("INSERT"), "dynamodb": {**conn("INSERT")["dynamodb"], "NewImage": []}},
            id="image-not-a-map",
        ),
        pytest.param(record("conns", "INSERT", {"other": "x"}, new={}), id="no-connection-id"),
        pytest.param(record("subs", "INSERT", {"channel": "x"}, new={}), id="no-subscription-key"),
        pytest.param(record("pres", "INSERT", {"userId": "x"}, new={}), id="no-presence-key"),
    ],
)
def test_a_malformed_record_is_skipped_and_the_rest_go_through(raw: dict[str, Any]) -> None:
    h = Harness()
    result = events.process([raw, conn("INSERT", seq=9)], TABLES, h.occupancy, h.bus)
    assert result.failed == []
    assert [e.type for e in h.bus.events] == [EventType.CONNECTION_OPENED]

    def mapped() -> None:
        events.record_event(events.parse_record(raw), TABLES, h.occupancy)

    with pytest.raises(MalformedRecordError):
        mapped()


def test_a_record_of_another_table_means_nothing() -> None:
    h = Harness()
    assert (
        events.process(
            [record("other", "INSERT", {"k": "v"}, new={})], TABLES, h.occupancy, h.bus
        ).events
        == []
    )


def test_the_detail_holds_the_fields_that_apply() -> None:
    event = events.BackendEvent(
        type=EventType.CONNECTION_CLOSED,
        event_id="e",
        ts=5,
        connection_id="C",
        reason=Reason.EXPIRED,
    )
    assert event.detail() == {"eventId": "e", "ts": 5, "connectionId": "C", "reason": "expired"}
    entry = events.entry(event, "bus")
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (
        "switchboard",
        "connection.closed",
        "bus",
    )
    assert json.loads(entry["Detail"]) == event.detail()
    assert entry["Time"].timestamp() == 0.005


# ---------------------------------------------------------------- EventBridge batches


def test_the_limits_are_botocores_and_awss() -> None:
    model = botocore.session.get_session().get_service_model("events")
    entries = model.shape_for("PutEventsRequestEntryList")
    assert entries.metadata["max"] == eventbus.MAX_ENTRIES == 10
    # AWS: "Calculating PutEvents event entry size" - a request holds at most 256 KB
    assert eventbus.MAX_REQUEST_BYTES == 256 * 1024
    assert set(model.shape_for("PutEventsRequestEntry").members) >= {
        "Time",
        "Source",
        "Resources",
        "DetailType",
        "Detail",
        "EventBusName",
    }


def big(n: int, size: int) -> events.BackendEvent:
    return events.BackendEvent(
        type=EventType.CONNECTION_OPENED, event_id=f"{n}", ts=0, user_id="u" * size
    )


def test_batches_hold_at_most_ten_entries_and_256_kb() -> None:
    entries = [events.entry(big(n, 10), "b") for n in range(23)]
    assert [len(b) for b in eventbus.batches(entries)] == [10, 10, 3]
    large = [events.entry(big(n, 100_000), "b") for n in range(5)]
    groups = eventbus.batches(large)
    assert [len(b) for b in groups] == [2, 2, 1]
    for group in groups:
        assert sum(eventbus.entry_size(large[i]) for i in group) <= 256 * 1024
    assert (
        eventbus.entry_size({"Source": "é", "DetailType": "t", "Detail": "{}", "Resources": ["ab"]})
        == 2 + 1 + 2 + 2
    )


class FakeEvents:
    """PutEvents answers: each entry refused while its id is in ``refuse`` (counted down)."""

    def __init__(self, refuse: dict[str, int], raise_first: int = 0) -> None:
        self.refuse = refuse
        self.raise_first = raise_first
        self.calls: list[list[str]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(Entries) <= 10
        self.calls.append([json.loads(e["Detail"])["eventId"] for e in Entries])
        if self.raise_first:
            self.raise_first -= 1
            raise ConnectionError("throttled")
        results = []
        for item in Entries:
            eid = json.loads(item["Detail"])["eventId"]
            if self.refuse.get(eid, 0) > 0:
                self.refuse[eid] -= 1
                results.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
            else:
                results.append({"EventId": f"eb-{eid}"})
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_refused_entries_are_sent_again_until_accepted() -> None:
    client = FakeEvents({"3": 2, "11": 1}, raise_first=1)
    sleeps: list[float] = []
    bus = EventBridgeBus(client, "b", attempts=4, sleep=sleeps.append)
    assert bus.put([big(n, 1) for n in range(12)]) == [True] * 12
    ten = [str(n) for n in range(10)]
    # the first call raised (all ten again), then 3 and 11 refused, then 3 once more
    assert client.calls == [ten, ["10", "11"], ten, ["11"], ["3"], ["3"]]
    assert sleeps == [0.05, 0.1, 0.2]


def test_an_entry_refused_every_time_is_reported_not_accepted() -> None:
    client = FakeEvents({"1": 99})
    bus = EventBridgeBus(client, "b", attempts=3, sleep=lambda _s: None)
    assert bus.put([big(0, 1), big(1, 1), big(2, 1)]) == [True, False, True]
    assert len(client.calls) == 3
