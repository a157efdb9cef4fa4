"""The grants ``HooksModule`` adds are exactly what ``ctx.publish`` and ``ctx.send_to_user``
call from each hook point, and without ``HooksModule`` no role has them.

As in tests/integration/test_iam.py: the hooks of tests/hooks_fixture run against moto while
every botocore call is recorded by function; each call's IAM (action, resource) must be
granted to that function in the SAM translator's output for the ``hooks`` parameter set
(tests/deploy/sam.py), and the grants that set adds over the defaults must be the calls
the defaults would refuse (no grant more, none less).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard import services
from switchboard.queueing import FanoutBatch
from tests.conftest import ROOT, ManagementApiFake, connect, disconnect, send_frame
from tests.deploy import sam
from tests.integration.test_iam import (
    QUEUE_URL,
    Need,
    Recorder,
    assert_granted,
    granted_to,
    start_recording,
    ungranted,
)

FIXTURE = ROOT / "tests" / "hooks_fixture"
MODULE = "hooks_under_test"
HOOKED = "hooks"  # the variant of tests/deploy/sam.py with HooksModule set
SQS = ("sqs:SendMessage", "FanoutQueue")
BY_USER = ("dynamodb:Query", "ConnectionsTable/index/byUser")


@pytest.fixture
def hooked(management: ManagementApiFake, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """test_iam's recorder, with HOOKS_MODULE naming the tests' hooks module."""
    monkeypatch.syspath_prepend(str(FIXTURE))
    monkeypatch.setenv("HOOKS_MODULE", MODULE)
    yield start_recording(management, monkeypatch)
    sys.modules.pop(MODULE, None)
    services.reset()


def listen(connection_ids: list[str], *channels: str) -> None:
    for connection_id in connection_ids:
        for channel in channels:
            send_frame(connection_id, {"action": "subscribe", "channel": channel, "id": "s"})


def received(management: ManagementApiFake, connection_id: str, kind: str) -> list[Any]:
    """The ``data`` of the frames of one ``type`` a connection was sent."""
    return [f["data"] for f in management.replies(connection_id) if f["type"] == kind]


def queued_recipients() -> dict[str, int]:
    """The fan-out queue's recipients, by channel (the batches are taken off the queue)."""
    counts: Counter[str] = Counter()
    queued = services.sqs().receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)
    for message in queued.get("Messages", []):
        batch = FanoutBatch.decode(message["Body"])
        counts[json.loads(batch.data)["channel"]] += len(batch.connection_ids)
    return dict(counts)


def added_by_hooks(function: str) -> set[Need]:
    """What the function's role is granted with HooksModule and not without."""
    return granted_to(function, HOOKED) - granted_to(function)


def assert_exactly_what_hooks_need(recorder: Recorder, function: str) -> None:
    """Every call is granted with HooksModule; the calls the defaults would refuse are
    exactly the grants HooksModule adds (none unused: least privilege)."""
    assert_granted(recorder, function, HOOKED)
    refused_without = ungranted(recorder.needs(function), granted_to(function))
    assert refused_without, f"{function}'s hooks needed nothing more than the defaults grant"
    assert refused_without == added_by_hooks(function)


def test_hooks_publish_and_send_at_connect_and_disconnect_with_what_hooks_grant(
    hooked: Recorder, management: ManagementApiFake
) -> None:
    listeners = [f"IAMHOOKL{n:07d}=" for n in range(6)]
    for n, connection_id in enumerate(listeners):
        connect(connection_id, f"listener{n}", presence={"n": n})
    witness = listeners[0]
    listen(listeners[:2], "room:hooks", "presence-hooks")
    listen([witness, listeners[5]], "audit", "presence-hooks")
    listen(listeners, "room:hooks-big")  # 6 recipients, above FANOUT_QUEUE_THRESHOLD (3)
    management.gone.add(listeners[1])  # pruned by on_connect's publish (a presence leave)

    arriver, crowd = "IAMHOOKA0000000=", "IAMHOOKB0000000="
    with hooked.running("ConnectFunction"):
        # on_connect: ctx.publish (inline, then to SQS) and ctx.send_to_user
        connect(arriver, "arriver", announce="room:hooks", notify="listener0")
        connect(crowd, "crowd", announce="room:hooks-big", notify="listener0")
    assert received(management, witness, "message") == [{"joined": "arriver"}]
    assert [f["user"] for f in management.replies(witness) if f["type"] == "leave"] == ["listener1"]
    assert SQS in hooked.needs("ConnectFunction")

    management.gone.add(listeners[5])  # pruned by on_disconnect's publish
    with hooked.running("DisconnectFunction"):
        disconnect(arriver)  # on_disconnect: ctx.publish to "audit" inline, ctx.send_to_user
    listen(listeners[2:5], "audit")  # now 4 live recipients: the next goes to SQS
    with hooked.running("DisconnectFunction"):
        disconnect(crowd)
    assert received(management, witness, "message")[1:] == [{"left": "arriver", "plan": "free"}]
    assert received(management, witness, "direct") == [
        {"hello": "arriver"},
        {"hello": "crowd"},
        {"bye": "arriver"},
        {"bye": "crowd"},
    ]
    assert [f["user"] for f in management.replies(witness) if f["type"] == "leave"][1:] == [
        "listener5"
    ]
    assert queued_recipients() == {"room:hooks-big": 5, "audit": 4}
    assert {SQS, BY_USER} <= hooked.needs("DisconnectFunction")

    for function in ("ConnectFunction", "DisconnectFunction"):
        assert_exactly_what_hooks_need(hooked, function)


def test_hooks_send_to_user_from_default_with_what_hooks_grant(
    hooked: Recorder, management: ManagementApiFake
) -> None:
    ids = [f"IAMHOOKD{n:07d}=" for n in range(5)]
    for n, connection_id in enumerate(ids):
        connect(connection_id, f"member{n}")
    listen(ids, "room:hooks-rpc")
    with hooked.running("DefaultFunction"):
        rpc = {"action": "rpc", "id": "r"}
        send_frame(ids[0], {**rpc, "method": "dm", "params": {"user": "member1", "data": 1}})
        params = {"channel": "room:hooks-rpc", "data": 2}  # 5 recipients: to SQS
        send_frame(ids[0], {**rpc, "method": "announce", "params": params})
    assert received(management, ids[1], "direct") == [1]
    assert [f["result"] for f in management.replies(ids[0]) if f["id"] == "r"] == [1, 1]
    assert queued_recipients() == {"room:hooks-rpc": 5}
    assert {SQS, BY_USER} <= hooked.needs("DefaultFunction")
    assert_exactly_what_hooks_need(hooked, "DefaultFunction")


@pytest.mark.parametrize(
    "variant", [v for v, params in sam.variants().items() if not params.get("HooksModule")]
)
def test_without_hooks_module_no_role_has_the_hooks_grants(variant: str) -> None:
    assert not sam.parameters(variant)["HooksModule"]
    for function in ("ConnectFunction", "DisconnectFunction", "DefaultFunction"):
        added = added_by_hooks(function)
        assert added, f"HooksModule adds no grant to {function}"
        assert not added & granted_to(function, variant), (function, variant)


# what a publish reads from the environment: where its seq, message, recipients and
# presence live, how long history is kept, and where a large fan-out goes
PUBLISHING_ENV = (
    "CONNECTIONS_TABLE",
    "SUBSCRIPTIONS_TABLE",
    "HISTORY_TABLE",
    "PRESENCE_TABLE",
    "HISTORY_RETENTION_SECONDS",
    "HISTORY_SIZE",
    "DELIVERY_ENGINE",
    "FANOUT_QUEUE_URL",
    "FANOUT_QUEUE_THRESHOLD",
)


def test_hooks_publish_at_connect_and_disconnect_with_defaults_settings() -> None:
    """ctx.publish at $connect and $disconnect reads what a client's publish reads."""
    resources = sam.deployed(HOOKED)["Resources"]

    def publishing(function: str) -> dict[str, Any]:
        env = resources[function]["Properties"]["Environment"]["Variables"]
        return {name: env.get(name) for name in PUBLISHING_ENV}

    assert None not in publishing("DefaultFunction").values()
    for function in ("ConnectFunction", "DisconnectFunction"):
        assert publishing(function) == publishing("DefaultFunction"), function
