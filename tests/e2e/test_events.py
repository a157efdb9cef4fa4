"""Backend events through the local gateway: the real template's events function reads the
tables' streams, and the local EventBridge POSTs each event's envelope to ``EVENTS_URL``
(here a collector in the test), with the webhook's secret header. Every event type, and a
connection that vanishes without ``$disconnect`` (its items expire: the TTL sweep deletes
them) producing ``connection.closed``, ``channel.vacated`` and ``presence.left``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from websockets.sync.client import ClientConnection, connect

from local_gateway.local_aws import client as local_client
from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e

SECRET = "events-webhook-secret-for-the-e2e-test-0123"
ENVELOPE_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}


class Collector:
    """An HTTP endpoint that keeps every POSTed envelope and the secret header it came with."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self._changed = threading.Condition()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector._changed:
                    collector.received.append(
                        (json.loads(body), self.headers.get("x-switchboard-secret"))
                    )
                    collector._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/switchboard-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self._changed:
            return [envelope for envelope, _ in self.received]

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first envelope that satisfies ``predicate``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for envelope, _ in self.received:
                    if predicate(envelope):
                        return envelope
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    shown = [(e["detail-type"], e["detail"]) for e, _ in self.received]
                    raise AssertionError(f"no such event; received: {shown}")
                self._changed.wait(remaining)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    serving = Collector()
    yield serving
    serving.close()


@pytest.fixture(scope="module")
def switchboard(start_gateway: StartGateway, collector: Collector) -> GatewayProcess:
    """The real application with EVENTS_URL set, and a TTL sweep every second."""
    return start_gateway(
        template=ROOT / "template.yaml",
        extra_args=["--no-watch"],
        env={"EVENTS_URL": collector.url, "EVENTS_SECRET": SECRET, "TTL_SWEEP_SECONDS": "1"},
    )


def event(kind: str, **detail: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate: an envelope of ``kind`` whose detail holds ``detail``."""

    def matches(envelope: dict[str, Any]) -> bool:
        return envelope["detail-type"] == kind and all(
            envelope["detail"].get(key) == value for key, value in detail.items()
        )

    return matches


def open_client(gateway: GatewayProcess, user: str) -> tuple[ClientConnection, str]:
    """A connected client and its connection id (from ``ping``)."""
    client = connect(f"{gateway.url}?token={sign_token(DEFAULT_WS_SECRET, user)}").__enter__()
    client.send(json.dumps({"action": "ping", "id": "p"}))
    pong = json.loads(client.recv(timeout=10))
    return client, str(pong["connectionId"])


def send(client: ClientConnection, frame: dict[str, Any]) -> dict[str, Any]:
    client.send(json.dumps(frame))
    reply: dict[str, Any] = json.loads(client.recv(timeout=10))
    while reply["type"] not in ("ack", "error"):  # presence join frames come first
        reply = json.loads(client.recv(timeout=10))
    assert reply["type"] == "ack", reply
    return reply


def test_every_event_type_reaches_events_url_as_an_eventbridge_envelope(
    switchboard: GatewayProcess, collector: Collector
) -> None:
    alice, alice_id = open_client(switchboard, "alice")
    opened = collector.wait_for(event("connection.opened", connectionId=alice_id))
    assert opened["detail"]["userId"] == "alice"

    send(alice, {"action": "subscribe", "channel": "room:events", "id": "s"})
    occupied = collector.wait_for(event("channel.occupied", channel="room:events"))
    assert (occupied["detail"]["connectionId"], occupied["detail"]["userId"]) == (alice_id, "alice")

    bob, bob_id = open_client(switchboard, "bob")
    send(bob, {"action": "subscribe", "channel": "room:events", "id": "s"})
    send(alice, {"action": "subscribe", "channel": "presence-events", "id": "j"})
    joined = collector.wait_for(event("presence.joined", channel="presence-events"))
    assert (joined["detail"]["userId"], joined["detail"]["connectionId"]) == ("alice", alice_id)
    send(alice, {"action": "unsubscribe", "channel": "presence-events", "id": "u"})
    left = collector.wait_for(event("presence.left", channel="presence-events"))
    assert (left["detail"]["userId"], left["detail"]["reason"]) == ("alice", "disconnect")

    alice.close()
    closed = collector.wait_for(event("connection.closed", connectionId=alice_id))
    assert (closed["detail"]["userId"], closed["detail"]["reason"]) == ("alice", "disconnect")
    bob.close()
    vacated = collector.wait_for(event("channel.vacated", channel="room:events"))
    # the removal found last is the one that left it empty (each stream is its own queue)
    assert vacated["detail"]["connectionId"] in (alice_id, bob_id)
    assert vacated["detail"]["reason"] == "disconnect"
    collector.wait_for(event("connection.closed", connectionId=bob_id))

    # bob's subscribe to the held channel occupied nothing: one occupied, one vacated
    kinds = [
        e["detail-type"] for e in collector.events() if e["detail"].get("channel") == "room:events"
    ]
    assert kinds == ["channel.occupied", "channel.vacated"]
    # EventBridge's envelope (Powertools' model of it), with the webhook's secret header
    for envelope, secret in list(collector.received):
        assert set(envelope) == ENVELOPE_KEYS
        EventBridgeModel.model_validate(envelope)
        assert (envelope["source"], envelope["account"], envelope["region"]) == (
            "switchboard",
            "123456789012",
            "us-east-1",
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", envelope["time"])
        assert secret == SECRET
    ids = [e["detail"]["eventId"] for e in collector.events()]
    assert len(ids) == len(set(ids))
    # logged on the console, without the secret
    switchboard.wait_for_line(r"EVENT .* channel\.vacated ")
    assert not any(SECRET in line for line in switchboard.lines)


def dynamodb_of(gateway: GatewayProcess) -> Any:
    """A client of the gateway's embedded DynamoDB (its address is in the banner)."""
    endpoint = gateway.wait_for_line(r"DynamoDB\s+(http://\S+)").group(1)
    return local_client("dynamodb", endpoint)


def test_a_connection_that_vanishes_without_disconnect_is_closed_and_vacates_its_channel(
    switchboard: GatewayProcess, collector: Collector
) -> None:
    carol, carol_id = open_client(switchboard, "carol")
    send(carol, {"action": "subscribe", "channel": "room:vanish", "id": "s"})
    send(carol, {"action": "subscribe", "channel": "presence-vanish", "id": "p"})
    collector.wait_for(event("channel.occupied", channel="room:vanish"))
    collector.wait_for(event("presence.joined", channel="presence-vanish"))
    # $disconnect never runs: the items outlive the socket until they expire
    past = {":t": {"N": str(int(time.time()) - 1)}}
    dynamodb = dynamodb_of(switchboard)
    for table, key in (
        ("ConnectionsTable", {"connectionId": {"S": carol_id}}),
        ("SubscriptionsTable", {"channel": {"S": "room:vanish"}, "connectionId": {"S": carol_id}}),
        (
            "SubscriptionsTable",
            {"channel": {"S": "presence-vanish"}, "connectionId": {"S": carol_id}},
        ),
        ("PresenceTable", {"channel": {"S": "presence-vanish"}, "userId": {"S": "carol"}}),
    ):
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues=past,
        )
    started = time.monotonic()
    closed = collector.wait_for(event("connection.closed", connectionId=carol_id))
    assert (closed["detail"]["userId"], closed["detail"]["reason"]) == ("carol", "expired")
    vacated = collector.wait_for(event("channel.vacated", channel="room:vanish"))
    assert (vacated["detail"]["connectionId"], vacated["detail"]["reason"]) == (carol_id, "expired")
    left = collector.wait_for(event("presence.left", channel="presence-vanish"))
    assert (left["detail"]["userId"], left["detail"]["reason"]) == ("carol", "expired")
    assert time.monotonic() - started < 60  # the contract: within 60 s of the fact
    carol.close()
