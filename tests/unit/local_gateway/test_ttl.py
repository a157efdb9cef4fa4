"""DynamoDB's TTL on the embedded DynamoDB (:mod:`local_gateway.ttl`): expired items are
deleted, and the sweeper remembers which, once per item."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_gateway.dynamodb import embedded_moto
from local_gateway.eventlog import EventLog
from local_gateway.local_aws import REGION, client
from local_gateway.template import TableSpec
from local_gateway.ttl import TtlSweeper, ttl_tables

NOW = 1_796_169_599


@pytest.fixture
def endpoint() -> Iterator[str]:
    with embedded_moto() as url:
        yield url
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables.pop("expiring", None)


def test_only_tables_with_ttl_are_swept_by_their_attribute_and_keys() -> None:
    keys = [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}]
    tables = [
        TableSpec(name="with", create_table={"KeySchema": keys}, ttl_attribute="ttl"),
        TableSpec(name="without", create_table={"KeySchema": keys}, ttl_attribute=None),
    ]
    assert ttl_tables(tables) == {"with": ("ttl", ["h", "r"])}


def test_expired_items_are_deleted_and_taken_once(endpoint: str) -> None:
    dynamodb = client("dynamodb", endpoint)
    dynamodb.create_table(
        TableName="expiring",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for name, ttl in (("old", NOW - 1), ("new", NOW + 60), ("edge", NOW)):
        dynamodb.put_item(TableName="expiring", Item={"id": {"S": name}, "ttl": {"N": str(ttl)}})
    dynamodb.put_item(TableName="expiring", Item={"id": {"S": "never"}})
    log = EventLog(functions=False)
    sweeper = TtlSweeper(endpoint, {"expiring": ("ttl", ["id"])}, log, clock=lambda: NOW)
    assert sweeper.sweep() == 1
    left = {item["id"]["S"] for item in dynamodb.scan(TableName="expiring")["Items"]}
    assert left == {"new", "edge", "never"}
    assert sweeper.took("expiring", {"id": {"S": "old"}})
    assert not sweeper.took("expiring", {"id": {"S": "old"}})  # one REMOVE record per item
    assert not sweeper.took("expiring", {"id": {"S": "new"}})
    assert sweeper.sweep() == 0
