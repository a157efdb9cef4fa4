"""The meter of B4: every DynamoDB call the handlers make, with the units it is billed.

:class:`DynamoMeter` wraps botocore's ``_make_api_call`` on the real clients (moto answers)
and records one :class:`Call` per request with its write and read units
(:mod:`bench.billing_units`); :class:`Counted` is one operation's whole bill.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.billing_units import item_size, read_units, write_units

__all__ = ["Call", "Counted", "DynamoMeter", "metering"]


@dataclass
class Call:
    """One billed DynamoDB call."""

    operation: str
    table: str
    wru: float = 0.0
    rru: float = 0.0
    sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "call": self.operation,
            "table": self.table,
            "wru": self.wru,
            "rru": self.rru,
            "bytes": self.sizes,
        }


class DynamoMeter:
    """Wraps pynamodb's API call: records each call and the units it cost."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw  # a boto3 client on the same moto backend: its reads are not counted
        self.calls: list[Call] = []
        self._keys: dict[str, list[str]] = {}

    def _key_names(self, table: str) -> list[str]:
        if table not in self._keys:
            schema = self.raw.describe_table(TableName=table)["Table"]["KeySchema"]
            self._keys[table] = [k["AttributeName"] for k in schema]
        return self._keys[table]

    def _get(self, table: str, item_or_key: dict[str, Any]) -> dict[str, Any] | None:
        key = {name: item_or_key[name] for name in self._key_names(table)}
        item: dict[str, Any] | None = self.raw.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _write(self, table: str, key: dict[str, Any], new: dict[str, Any] | None) -> Any:
        """Before-state and a function giving the call's units once it ran."""
        old = self._get(table, key)

        def units(failed: bool) -> tuple[int, list[int]]:
            after = old if failed else (new if new is not None else self._get(table, key))
            sizes = [item_size(old), item_size(after)]
            return write_units(*sizes), sizes

        return units

    def call(
        self, original: Callable[..., Any], conn: Any, name: str, kwargs: dict[str, Any]
    ) -> Any:
        table = kwargs.get("TableName", "")
        pending: list[tuple[Call, Any, int]] = []
        if name in ("PutItem", "UpdateItem", "DeleteItem"):
            key = kwargs.get("Item") or kwargs["Key"]
            new = kwargs.get("Item") if name == "PutItem" else None
            if name == "DeleteItem":
                new = {}
            pending.append((Call(name, table), self._write(table, key, new), 1))
        elif name == "BatchWriteItem":
            for batch_table, requests in kwargs["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        units = self._write(batch_table, item, item)
                    else:
                        units = self._write(batch_table, request["DeleteRequest"]["Key"], {})
                    pending.append((Call(name, batch_table), units, 1))
        elif name == "TransactWriteItems":
            for entry in kwargs["TransactItems"]:
                ((kind, body),) = entry.items()
                key = body.get("Item") or body["Key"]
                if kind == "ConditionCheck":
                    size = item_size(self._get(body["TableName"], key))
                    check = Call(name, body["TableName"], rru=2 * read_units(size, consistent=True))
                    pending.append((check, None, 0))
                else:
                    new = body.get("Item") if kind == "Put" else ({} if kind == "Delete" else None)
                    pending.append(
                        (Call(name, body["TableName"]), self._write(body["TableName"], key, new), 2)
                    )
        failed = False
        try:
            response = original(conn, name, kwargs)
        except Exception:
            failed = True
            raise
        finally:
            if pending:
                for call, units, factor in pending:
                    if units is not None:
                        wru, sizes = units(failed)
                        call.wru, call.sizes = float(wru * factor), sizes
                    self.calls.append(call)
        if name == "GetItem":
            size = item_size(response.get("Item"))
            consistent = bool(kwargs.get("ConsistentRead"))
            self.calls.append(
                Call(name, table, rru=read_units(size, consistent=consistent), sizes=[size])
            )
        elif name == "Query":
            size = sum(item_size(i) for i in response.get("Items", []))
            consistent = bool(kwargs.get("ConsistentRead"))
            self.calls.append(
                Call(name, table, rru=read_units(size, consistent=consistent), sizes=[size])
            )
        elif not pending:
            self.calls.append(Call(name, table))
        return response


@contextmanager
def metering(meter: DynamoMeter) -> Iterator[DynamoMeter]:
    """Route every pynamodb API call through ``meter`` while the block runs."""
    from pynamodb.connection.base import Connection

    original = Connection._make_api_call

    def counting(self: Any, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        return meter.call(original, self, operation_name, operation_kwargs)

    Connection._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]


@dataclass
class Counted:
    """What one operation cost."""

    dynamodb: list[Call]
    messages_in: int
    messages_out: int
    invocations: int
    sqs_requests: int
    worker_invocations: int = 0
    http_requests: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dynamodb": [c.as_dict() for c in self.dynamodb],
            "calls": len(self.dynamodb),
            "wru": sum(c.wru for c in self.dynamodb),
            "rru": sum(c.rru for c in self.dynamodb),
            "apigw_messages_in": self.messages_in,
            "apigw_messages_out": self.messages_out,
            "lambda_invocations": self.invocations,
            "worker_invocations": self.worker_invocations,
            "sqs_requests": self.sqs_requests,
            "http_requests": self.http_requests,
        }
