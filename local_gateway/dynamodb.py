"""DynamoDB for the functions: moto's server in this process, or a real endpoint.

The tables are the template's own ``AWS::DynamoDB::Table`` definitions (keys, indexes,
TTL), named by their logical ids. Against a real endpoint (``DYNAMODB_ENDPOINT``, e.g.
DynamoDB Local) existing tables are kept. The same embedded server (:func:`embedded_moto`)
serves the template's SQS queues (:mod:`local_gateway.sqs`), whatever DynamoDB is used.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
from botocore.exceptions import ClientError

from local_gateway.template import REGION, TableSpec

__all__ = ["create_tables", "embedded_moto"]


def create_tables(endpoint: str, tables: Iterable[TableSpec]) -> None:
    """Create each table that does not exist yet, and turn its TTL on."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - a local endpoint takes any key
    )
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
    wsgi.app = one_dynamodb_call_at_a_time(wsgi.app)
    if wrap is not None:
        wsgi.app = wrap(wsgi.app)
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
