"""local_gateway.dynamodb: the embedded DynamoDB's transactions, all or nothing, by item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local_gateway.dynamodb import embedded_moto
from local_gateway.template import REGION


@pytest.fixture(autouse=True)
def _no_tables_left() -> Iterator[None]:
    """moto's backends are per process: each test starts and ends without these tables."""
    yield
    for name in ("pairs", "singles"):
        _tables().pop(name, None)


def _client(endpoint: str) -> Any:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    for name, keys in (("pairs", ("h", "r")), ("singles", ("id",))):
        client.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind}
                for key, kind in zip(keys, ("HASH", "RANGE"), strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    client.put_item(TableName="pairs", Item={"h": {"S": "a"}, "r": {"S": "1"}, "x": {"N": "1"}})
    client.put_item(TableName="singles", Item={"id": {"S": "s"}, "x": {"N": "1"}})
    return client


def _tables() -> dict[str, Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    tables: dict[str, Any] = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables
    return tables


def _everything(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        name: sorted(client.scan(TableName=name)["Items"], key=repr)
        for name in ("pairs", "singles")
    }


def _set_x(table: str, key: dict[str, Any], value: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET x = :v",
            "ExpressionAttributeValues": {":v": {"N": value}},
        }
    }


WRITES = [
    {"Put": {"TableName": "pairs", "Item": {"h": {"S": "a"}, "r": {"S": "2"}}}},
    {"Put": {"TableName": "pairs", "Item": {"h": {"S": "new"}, "r": {"S": "1"}}}},
    _set_x("pairs", {"h": {"S": "a"}, "r": {"S": "1"}}, "2"),
    {"Delete": {"TableName": "singles", "Key": {"id": {"S": "s"}}}},
    {"Put": {"TableName": "singles", "Item": {"id": {"S": "t"}}}},
]


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(
            {
                "ConditionCheck": {
                    "TableName": "singles",
                    "Key": {"id": {"S": "absent"}},
                    "ConditionExpression": "attribute_exists(id)",
                }
            },
            id="a-failed-condition-check-last",
        ),
        pytest.param(
            {
                "Put": {
                    "TableName": "pairs",
                    "Item": {"h": {"S": "z"}, "r": {"S": "1"}},
                    "ConditionExpression": "attribute_exists(h)",
                }
            },
            id="a-failed-conditional-put-last",
        ),
    ],
)
def test_a_cancelled_transaction_changes_no_item_and_copies_no_table(
    failing: dict[str, Any],
) -> None:
    """Found by the soak's profile: moto deep-copied every named table per transaction."""
    with embedded_moto() as endpoint:
        client = _client(endpoint)
        before = _everything(client)
        tables = dict(_tables())
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(TransactItems=[*WRITES, failing])
        assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
        reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
        assert reasons == ["None"] * len(WRITES) + ["ConditionalCheckFailed"]
        assert _everything(client) == before
        assert all(_tables()[name] is table for name, table in tables.items())
        assert set(_tables()["pairs"].items) == set(tables["pairs"].items)  # no empty bucket


def test_a_transaction_that_holds_applies_every_write() -> None:
    with embedded_moto() as endpoint:
        client = _client(endpoint)
        client.transact_write_items(TransactItems=WRITES)
        assert _everything(client) == {
            "pairs": sorted(
                [
                    {"h": {"S": "a"}, "r": {"S": "1"}, "x": {"N": "2"}},
                    {"h": {"S": "a"}, "r": {"S": "2"}},
                    {"h": {"S": "new"}, "r": {"S": "1"}},
                ],
                key=repr,
            ),
            "singles": [{"id": {"S": "t"}}],
        }


def test_an_invalid_transaction_is_refused_whole() -> None:
    """Two operations on one item: moto's own validation error, nothing written."""
    with embedded_moto() as endpoint:
        client = _client(endpoint)
        before = _everything(client)
        with pytest.raises(ClientError) as raised:
            client.transact_write_items(
                TransactItems=[
                    _set_x("singles", {"id": {"S": "s"}}, "5"),
                    _set_x("singles", {"id": {"S": "s"}}, "6"),
                ]
            )
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert _everything(client) == before


def _events(endpoint: str) -> Any:
    """Channels a, b, c with messages 1-12 each; a user per message (u0-u2), by index."""
    client = _client(endpoint)
    client.create_table(
        TableName="events",
        KeySchema=[
            {"AttributeName": "c", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "c", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
            {"AttributeName": "u", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byUser",
                "KeySchema": [{"AttributeName": "u", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in (7, 3, 12, 1, 9, 5, 2, 11, 4, 10, 8, 6):  # not in key order
        for channel in "cab":
            item = {"c": {"S": channel}, "n": {"N": str(n)}}
            if n % 4:  # every 4th message has no user: not in the index
                item["u"] = {"S": f"u{n % 3}"}
            client.put_item(TableName="events", Item=item)
    return client


def _pages(client: Any, **query: Any) -> list[list[tuple[str, int]]]:
    pages: list[list[tuple[str, int]]] = []
    start: dict[str, Any] = {}
    while True:
        answer = client.query(TableName="events", **query, **start)
        pages.append([(item["c"]["S"], int(item["n"]["N"])) for item in answer["Items"]])
        if "LastEvaluatedKey" not in answer:
            return pages
        start = {"ExclusiveStartKey": answer["LastEvaluatedKey"]}


@pytest.mark.parametrize(
    ("query", "pages"),
    [
        pytest.param(
            {"KeyConditionExpression": "c = :c", "ExpressionAttributeValues": {":c": {"S": "b"}}},
            [[("b", n) for n in range(1, 13)]],
            id="a-channel-in-order",
        ),
        pytest.param(
            {
                "KeyConditionExpression": "c = :c AND n > :n",
                "ExpressionAttributeValues": {":c": {"S": "a"}, ":n": {"N": "4"}},
                "ScanIndexForward": False,
                "Limit": 3,
            },
            [
                [("a", 12), ("a", 11), ("a", 10)],
                [("a", 9), ("a", 8), ("a", 7)],
                [("a", 6), ("a", 5)],
            ],
            id="newest-first-in-pages",
        ),
        pytest.param(
            {"KeyConditionExpression": "c = :c", "ExpressionAttributeValues": {":c": {"S": "z"}}},
            [[]],
            id="no-such-channel",
        ),
        pytest.param(
            {
                "IndexName": "byUser",
                "KeyConditionExpression": "u = :u",
                "ExpressionAttributeValues": {":u": {"S": "u1"}},
                "Limit": 4,
            },
            [  # moto's order (its own, patch or not): the index key, then the table's range
                [("a", 1), ("b", 1), ("c", 1), ("a", 7)],
                [("b", 7), ("c", 7), ("a", 10), ("b", 10)],
                [("c", 10)],
            ],
            id="an-index-in-moto-order-in-pages",
        ),
    ],
)
def test_a_query_reads_its_own_key_and_answers_as_moto_does(
    query: dict[str, Any], pages: list[list[tuple[str, int]]]
) -> None:
    """Found by the soak's profile: moto sorted the whole table for every query."""
    with embedded_moto() as endpoint:
        client = _events(endpoint)
        try:
            assert _pages(client, **query) == pages
        finally:
            _tables().pop("events", None)


def test_queries_from_several_threads_at_once_each_read_their_own_key() -> None:
    """Found by a CI run: with moto in the test process (``mock_aws``, no one-call-at-a-time
    lock), a fan-out's pruning threads queried at once, and one thread's query ended the
    override another's was reading (AttributeError: no attribute 'all_items')."""
    from concurrent.futures import ThreadPoolExecutor

    from moto import mock_aws

    from local_gateway.dynamodb import queries_by_key

    queries_by_key()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="pairs",
            KeySchema=[
                {"AttributeName": "h", "KeyType": "HASH"},
                {"AttributeName": "r", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in "hr"],
            BillingMode="PAY_PER_REQUEST",
        )
        for h in range(8):
            for r in range(h + 1):
                client.put_item(TableName="pairs", Item={"h": {"S": str(h)}, "r": {"S": str(r)}})

        def count(h: int) -> int:
            return int(
                client.query(
                    TableName="pairs",
                    KeyConditionExpression="h = :h",
                    ExpressionAttributeValues={":h": {"S": str(h % 8)}},
                )["Count"]
            )

        with ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(count, range(800)))
    assert counts == [h % 8 + 1 for h in range(800)]
