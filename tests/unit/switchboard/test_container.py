"""The container: each object made once, on first use; installed for the handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from switchboard import container
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
