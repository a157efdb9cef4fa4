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
