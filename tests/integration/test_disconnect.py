"""$disconnect through the real handler: the connection and its subscriptions go."""

from __future__ import annotations

import io
import json
from typing import Any

from functions.disconnect import app
from switchboard import services
from switchboard.store import ConnectionModel, SubscriptionModel
from tests.conftest import (
    connect,
    load_event,
)

ME = "Fz1xWfAGIAMCKsA="


def test_disconnect_deletes_the_connection_and_every_subscription(
    aws: None, lambda_context: Any
) -> None:
    store = services.store()
    connect(ME)
    connect("OTHERxxxxxxxxx=", "bob")
    me = store.get_connection(ME)
    other = store.get_connection("OTHERxxxxxxxxx=")
    assert me is not None
    assert other is not None
    channels = [f"room:{n}" for n in range(30)]  # more than one BatchWriteItem (25 items)
    for channel in channels:
        store.subscribe(me, channel)
    store.subscribe(other, "room:0")

    event = load_event("disconnect")
    assert app.lambda_handler(event, lambda_context) == {"statusCode": 200}

    assert ConnectionModel.count(ME) == 0
    assert sum(1 for _ in SubscriptionModel.by_connection.query(ME)) == 0
    assert [s.connection_id for s in SubscriptionModel.query("room:0")] == ["OTHERxxxxxxxxx="]
    assert ConnectionModel.count("OTHERxxxxxxxxx=") == 1

    # running it twice is harmless
    assert app.lambda_handler(event, lambda_context) == {"statusCode": 200}
    assert ConnectionModel.count("OTHERxxxxxxxxx=") == 1


def test_disconnect_of_an_unknown_connection_is_harmless(aws: None, lambda_context: Any) -> None:
    assert app.lambda_handler(load_event("disconnect"), lambda_context) == {"statusCode": 200}


def test_the_disconnect_log_line_names_the_user_once(aws: None, lambda_context: Any) -> None:
    connect(ME, "dana")
    stream = io.StringIO()
    handler = app.logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        app.lambda_handler(load_event("disconnect"), lambda_context)
        app.lambda_handler(load_event("disconnect"), lambda_context)  # already gone
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    first, second = (line for line in lines if line.get("message") == "disconnected")
    assert (first["connection_id"], first["user_id"], first["status_code"]) == (ME, "dana", 1001)
    assert "user_id" not in second
