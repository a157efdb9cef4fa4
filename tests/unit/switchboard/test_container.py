"""The container: each object made once, on first use; installed for the handlers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

from switchboard import container, events
from switchboard.errors import ConfigurationError
from tests.conftest import CONTEXT, load_event, make_token
from tests.unit.switchboard.fakes import ENDPOINT, make_container


@pytest.fixture
def installed() -> Iterator[tuple[container.Container, object, object]]:
    box, store, sender = make_container()
    container.install(box)
    yield box, store, sender
    container.reset()


def test_objects_are_made_once_and_lazily() -> None:
    box, _store, sender = make_container()
    assert box._made == {}  # nothing built until asked: no client on the cold path
    assert box.realtime(ENDPOINT) is box.realtime(ENDPOINT)
    assert box.sender(ENDPOINT) is sender
    assert box.message_handler(ENDPOINT).realtime is box.realtime(ENDPOINT)
    assert box.overflow(ENDPOINT) is None
    assert box.endpoint_for("abc", "dev") == ENDPOINT  # the configured override wins


def test_the_handlers_run_on_an_installed_container_of_fakes(installed: tuple) -> None:
    from functions.connect import app as connect_app
    from functions.default import app as default_app
    from functions.disconnect import app as disconnect_app

    _box, store, sender = installed
    event = load_event("connect")
    event["queryStringParameters"] = {"token": make_token("alice")}
    event["multiValueQueryStringParameters"] = {"token": [make_token("alice")]}
    event["headers"].pop("Origin", None)
    event["multiValueHeaders"] = {}
    connection_id = event["requestContext"]["connectionId"]
    assert connect_app.lambda_handler(event, CONTEXT)["statusCode"] == 200
    frame = load_event("default_ping")
    frame["requestContext"]["connectionId"] = connection_id
    frame["body"] = json.dumps({"action": "subscribe", "channel": "room:a", "id": "s"})
    assert default_app.lambda_handler(frame, CONTEXT) == {"statusCode": 200}
    assert sender.frames[connection_id][-1]["type"] == "ack"  # type: ignore[attr-defined]
    gone = load_event("disconnect")
    gone["requestContext"]["connectionId"] = connection_id
    assert disconnect_app.lambda_handler(gone, CONTEXT) == {"statusCode": 200}
    assert store.get_connection(connection_id) is None  # type: ignore[attr-defined]


def test_the_events_handler_runs_on_a_container_of_fakes() -> None:
    from functions.events import app as events_app
    from switchboard.eventbus import MemoryBus
    from switchboard.occupancy import MemoryOccupancy
    from tests.unit.switchboard.test_events import conn

    bus = MemoryBus()
    box, _store, _sender = make_container(
        connections_table="conns",
        subscriptions_table="subs",
        presence_table="pres",
        event_bus_name="the-bus",
        channel_states_table="states",
    )
    made: list[tuple[str, str]] = []

    def new_bus(settings: object, name: str) -> MemoryBus:
        made.append(("bus", name))
        return bus

    def new_occupancy(settings: object, table: str) -> MemoryOccupancy:
        made.append(("occupancy", table))
        return MemoryOccupancy(lambda _channel: 0)

    container.install(dataclasses.replace(box, new_event_bus=new_bus, new_occupancy=new_occupancy))
    try:
        event = {"Records": [conn("INSERT", "C1"), conn("REMOVE", "C1", seq=2)]}
        assert events_app.lambda_handler(event, CONTEXT) == {"batchItemFailures": []}
        assert events_app.lambda_handler({}, CONTEXT) == {"batchItemFailures": []}
        bus.refuse = {bus.events[0].event_id}
        assert events_app.lambda_handler(event, CONTEXT) == {
            "batchItemFailures": [{"itemIdentifier": "1"}]
        }
    finally:
        container.reset()
    assert [(e.type, e.connection_id) for e in bus.events] == [
        ("connection.opened", "C1"),
        ("connection.closed", "C1"),
        ("connection.closed", "C1"),
    ]
    assert made == [("occupancy", "states"), ("bus", "the-bus")]  # each made once


def test_the_event_objects_need_their_settings() -> None:
    box, _store, _sender = make_container()
    assert box.event_tables() == events.Tables(
        connections=box.settings.connections_table,
        subscriptions=box.settings.subscriptions_table,
        presence=box.settings.presence_table,
    )
    with pytest.raises(ConfigurationError, match=r"^EVENT_BUS_NAME must name the EventBridge bus$"):
        box.event_bus()
    with pytest.raises(
        ConfigurationError, match=r"^CHANNEL_STATES_TABLE must name the channel states table$"
    ):
        box.occupancy()
    assert box._made == {}


@pytest.fixture
def models_rebound() -> Iterator[None]:
    """The models' binding (table, region, endpoint, connection) as it was before."""
    from switchboard.dynamodb_tables import MODELS

    meta = ("table_name", "region", "host")
    saved = [
        (m, {k: getattr(m.Meta, k, None) for k in meta}, m.__dict__.get("_connection"))
        for m in MODELS
    ]
    yield
    for model, values, connection in saved:
        for key, value in values.items():
            setattr(model.Meta, key, value)
        model._connection = connection


@pytest.mark.usefixtures("models_rebound")
def test_the_channel_states_share_the_stores_client_and_the_bus_retries_three_times() -> None:
    """As default_occupancy and default_event_bus say: the channel states call DynamoDB
    through the store's one (pynamodb) client, 4 attempts in all; the bus's client is a
    botocore one of its own, 3 attempts in all. No call is made."""
    from switchboard import dynamodb_tables
    from switchboard.config import Settings
    from switchboard.store import Store

    settings = Settings(region="eu-west-1", dynamodb_endpoint="http://127.0.0.1:9")
    Store(settings)  # binds the models and shares one connection, as from_settings does
    occupancy = container.default_occupancy(settings, "states")
    client = occupancy.client  # type: ignore[attr-defined]
    assert client is dynamodb_tables.shared_client()
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries == {"total_max_attempts": 4, "mode": "standard"}
    bus = container.default_event_bus(settings, "bus")
    assert bus.client.meta.config.retries == {"total_max_attempts": 3, "mode": "standard"}  # type: ignore[attr-defined]
    assert bus.client.meta.service_model.service_name == "events"  # type: ignore[attr-defined]
