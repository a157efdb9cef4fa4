"""DynamoDB for the functions: moto's server in this process, or a real endpoint.

The tables are the template's own ``AWS::DynamoDB::Table`` definitions (keys, indexes,
TTL), named by their logical ids. Against a real endpoint (``DYNAMODB_ENDPOINT``, e.g.
DynamoDB Local) existing tables are kept. The same embedded server (:func:`embedded_moto`)
serves the template's SQS queues (:mod:`local_gateway.sqs`), whatever DynamoDB is used.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError

from local_gateway import local_aws
from local_gateway.template import TableSpec

__all__ = ["create_tables", "embedded_moto"]


def create_tables(endpoint: str, tables: Iterable[TableSpec]) -> None:
    """Create each table that does not exist yet, and turn its TTL on."""
    client = local_aws.client("dynamodb", endpoint)
    for table in tables:
        try:
            client.create_table(**table.create_table)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
            continue
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def one_dynamodb_call_at_a_time(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` (moto's WSGI application) serving DynamoDB calls one at a time.

    moto's server runs each request in its own thread, and its DynamoDB backend has no lock:
    two concurrent ``UpdateItem ADD`` calls could both read 3 and both write 4 (the soak saw
    two publishes given the same ``seq``), and ``TransactWriteItems`` copies tables that
    other threads are changing. DynamoDB makes every write to an item atomic; one call at a
    time is the simplest way to do the same here. SQS calls are not serialized.
    """
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the body is made under the lock

    return application


def item_level_transactions() -> None:
    """Make moto's ``TransactWriteItems`` undo by item instead of copying whole tables.

    moto keeps a ``copy.deepcopy`` of every table a transaction names, to restore it if the
    transaction is cancelled: a cost that grows with the table (the soak's history table
    grows with every publish, so each subscribe's transaction got slower as a run went on,
    until the embedded DynamoDB was the gateway's bottleneck). Here its models module sees
    a ``copy`` whose ``deepcopy`` of a whole table is the table itself, and the transaction
    keeps a copy of each item it names instead, put back when the transaction is cancelled.
    The outcome is the same, all or nothing; it is safe because :func:`one_dynamodb_call_at_a_time`
    serializes every call. Idempotent.
    """
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "item_level", False):
        return

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[attr-defined]
    original = models.DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_saved_item(self.tables, item) for item in transact_items]
        try:
            original(self, transact_items)
        except Exception:
            for entry in reversed(saved):
                if entry is not None:
                    _put_back(*entry)
            raise

    transact_write_items.item_level = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _saved_item(tables: dict[str, Any], transact_item: dict[str, Any]) -> tuple[Any, ...] | None:
    """(table, hash, range, a copy of the item or None) for one operation of a transaction;
    None when the operation names no existing table or no valid key (it changes nothing)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    operation = next(iter(transact_item.values()), None)
    if not isinstance(operation, dict):
        return None
    table = tables.get(str(operation.get("TableName")))
    key = operation.get("Item") if "Item" in operation else operation.get("Key")
    if table is None or not isinstance(key, dict):
        return None
    try:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        current = table.get_item(hash_value, range_value)
    except Exception:  # moto refuses the key: the operation fails, changing nothing
        return None
    return table, hash_value, range_value, copy.deepcopy(current)


def _put_back(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    bucket = table.items[hash_value]
    if item is None:
        bucket.pop(range_value, None)
        if not bucket:
            del table.items[hash_value]
    else:
        bucket[range_value] = item


def queries_by_key() -> None:
    """Make moto's ``Query`` read the items it can match instead of sorting the whole table.

    moto's ``Table.query`` starts from ``all_items()``, every item of the table sorted by
    key, and then keeps those of the hash key asked for: each query of a channel's history
    or subscribers sorted the whole table (the soak's profile: the largest DynamoDB cost,
    growing with every publish). Here, while a query runs, ``all_items`` is the hash key's
    own items for a table query, and every item unsorted for an index query (moto sorts
    those by the index's keys and the table's, a total order, right after). Results, order
    and pages are moto's own. The override is the calling thread's alone: moto in the
    test process (``mock_aws``, no :func:`one_dynamodb_call_at_a_time`) is called from
    several threads at once (a fan-out's pruning). Idempotent.
    """
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "by_key", False):
        return
    original = Table.query
    original_all_items = Table.all_items
    running = threading.local()  # this thread's queries: id(table) -> the items to match

    def all_items(self: Any) -> Any:
        items = getattr(running, "items", {}).get(id(self))
        return original_all_items(self) if items is None else items

    @functools.wraps(original)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name:
            items = [*_items_of(self, self.items.values())]
        else:
            bucket = self.items.get(hash_key)
            items = [] if bucket is None else [*_items_of(self, [bucket])]
        overrides = running.__dict__.setdefault("items", {})
        outer = overrides.get(id(self))
        overrides[id(self)] = items
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            if outer is None:
                del overrides[id(self)]
            else:
                overrides[id(self)] = outer

    Table.all_items = all_items  # type: ignore[method-assign]
    query.by_key = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def _items_of(table: Any, buckets: Iterable[Any]) -> Iterator[Any]:
    for bucket in buckets:
        if table.range_key_attr:
            yield from bucket.values()
        else:
            yield bucket


@contextlib.contextmanager
def embedded_moto(wrap: Callable[[Any], Any] | None = None) -> Iterator[str]:
    """moto's server in this process on a free port of 127.0.0.1: its endpoint URL.

    ``wrap`` takes moto's WSGI application and returns the one served (fault injection)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server  # werkzeug's server: each request reads its .app
    assert wsgi is not None
    item_level_transactions()
    queries_by_key()
    wsgi.app = one_dynamodb_call_at_a_time(wsgi.app)
    if wrap is not None:
        wsgi.app = wrap(wsgi.app)
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
