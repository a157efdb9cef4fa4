"""Both delivery engines through the local gateway's real ``@connections`` endpoint.

The real application behind the gateway, with ``DELIVERY_ENGINE`` set to each engine:
real clients subscribe, two more subscriptions belong to connections the gateway does
not know (their ``$disconnect`` never ran, as happens on AWS), and one publish must reach
every live client exactly once, prune the two gone ones (the gateway answers 410 for
them), and say so in its ack. Also through SQS, where the fan-out worker delivers.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest

from local_gateway.local_aws import client as local_client
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway, subscribed_clients
from tests.e2e.sentinel import SENTINEL, frames_before_sentinel

pytestmark = pytest.mark.e2e

LIVE = 4
GHOSTS = ["Zz0ghost00001A=", "Zz0ghost00002A="]
CHANNEL = "room:engines"


def dynamodb(gateway: GatewayProcess) -> tuple[Any, str]:
    """A client of the gateway's embedded DynamoDB and the subscriptions table's name."""
    banner = gateway.wait_for_line(r"DynamoDB\s+(http://\S+).*tables: (.*)$", start=0)
    endpoint, tables = banner.group(1), banner.group(2).split(", ")
    [subscriptions] = [name for name in tables if "ubscription" in name]
    client = local_client("dynamodb", endpoint)
    return client, subscriptions


def subscribed_ids(client: Any, table: str) -> set[str]:
    items = client.query(
        TableName=table,
        KeyConditionExpression="channel = :c",
        ExpressionAttributeValues={":c": {"S": CHANNEL}},
        ConsistentRead=True,
    )["Items"]
    return {item["connectionId"]["S"] for item in items}


@pytest.mark.parametrize(
    ("engine", "threshold"),
    [
        pytest.param("fast", 1000, id="fast-inline"),
        pytest.param("boto3", 1000, id="boto3-inline"),
        pytest.param("fast", 2, id="fast-via-sqs"),
    ],
)
def test_one_publish_reaches_the_live_once_and_prunes_the_gone(
    start_gateway: StartGateway, engine: str, threshold: int
) -> None:
    gateway = start_gateway(
        template=ROOT / "template.yaml",
        extra_args=["--no-watch"],
        function_env={"DELIVERY_ENGINE": engine, "FANOUT_QUEUE_THRESHOLD": str(threshold)},
    )
    table_client, table = dynamodb(gateway)
    with contextlib.ExitStack() as stack:
        clients = subscribed_clients(stack, gateway, CHANNEL, LIVE)
        expires = str(int(time.time()) + 3600)
        for ghost in GHOSTS:
            table_client.put_item(
                TableName=table,
                Item={
                    "channel": {"S": CHANNEL},
                    "connectionId": {"S": ghost},
                    "userId": {"S": "ghost"},
                    "ttl": {"N": expires},
                },
            )
        assert len(subscribed_ids(table_client, table)) == LIVE + len(GHOSTS)

        publisher = clients[0]
        publisher.send(
            json.dumps({"action": "publish", "channel": CHANNEL, "data": {"n": 1}, "id": "p"})
        )
        received: dict[int, list[dict[str, Any]]] = {n: [] for n in range(LIVE)}
        ack = None
        while ack is None:  # the publisher gets its own message too, before or after the ack
            frame = json.loads(publisher.recv(timeout=10))
            if frame["type"] == "ack":
                ack = frame
            else:
                received[0].append(frame)
        for n, client in enumerate(clients):
            deadline = time.monotonic() + 15
            while not received[n] and time.monotonic() < deadline:
                received[n].append(json.loads(client.recv(timeout=15)))
        # Exactly once: a sentinel published after it is the next message each one gets.
        publisher.send(
            json.dumps({"action": "publish", "channel": CHANNEL, "data": SENTINEL, "id": "s"})
        )
        for n, client in enumerate(clients):
            [message] = received[n]
            assert (message["type"], message["data"], message["seq"]) == ("message", {"n": 1}, 1)
            *between, sentinel = frames_before_sentinel(client, CHANNEL)
            if n == 0:  # the publisher: the sentinel's ack may come first
                between = [f for f in between if (f["type"], f.get("id")) != ("ack", "s")]
            assert between == []
            assert sentinel["seq"] == 2

        if threshold < LIVE:  # handed to SQS: the worker delivered and pruned
            assert ack.get("queued") == LIVE + len(GHOSTS), ack
            deadline = time.monotonic() + 15
            while subscribed_ids(table_client, table) & set(GHOSTS):
                assert time.monotonic() < deadline, "the fan-out worker did not prune the gone"
                time.sleep(0.1)
        else:
            assert (ack["delivered"], ack["pruned"], ack["failed"]) == (LIVE, len(GHOSTS), 0)
        remaining = subscribed_ids(table_client, table)
        assert not remaining & set(GHOSTS)
        assert len(remaining) == LIVE
