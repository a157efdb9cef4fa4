"""Benchmark: the local gateway holding 1,000 connections, one publish delivered to all.

Runs Switchboard's real handlers (template.yaml) behind ``python -m local_gateway`` on
127.0.0.1 and reports:

- start-up to ready: from spawning the gateway to its "Ready" line (moto started, tables
  created, one warm worker per function), and to "listening";
- connect: the time to open N authenticated connections (at most 50 handshakes at a time);
- subscribe: the time for all N to subscribe to one channel (acks received);
- fan-out: for each of ``--publishes`` publishes, from the publisher's send to the last of
  the N connections receiving the message (the publisher is one of them).

Bounded: N connections, a fixed number of publishes, a time limit on every wait; loopback
only. Not a test: ``make bench-gateway`` prints a table for docs/local-gateway.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from devtools import gateway_process
from devtools.gateway_process import GatewayProcess
from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "bench:all"
WAIT = 120.0


def start_gateway(workers: int, threshold: int | None = None) -> GatewayProcess:
    """Spawn the gateway (:mod:`devtools.gateway_process`), its console in
    ``.tools/bench-gateway.log``.

    ``threshold`` sets the functions' ``FANOUT_QUEUE_THRESHOLD`` (through an ``--env-vars``
    file): above it a publish goes through the SQS queue and the fan-out worker, below it
    the publishing function delivers inline. ``None`` keeps the template's default (500).
    """
    extra: list[str] = []
    if threshold is not None:
        env_vars = ROOT / ".tools" / "bench-gateway-env.json"
        env_vars.parent.mkdir(exist_ok=True)
        env_vars.write_text(json.dumps({"Parameters": {"FANOUT_QUEUE_THRESHOLD": str(threshold)}}))
        extra = ["--env-vars", str(env_vars)]
    log = (ROOT / ".tools" / "bench-gateway.log").open("w")
    return gateway_process.start_gateway(
        ["--quiet-functions", "--workers", str(workers), *extra], console=log.write
    )


async def open_connections(url: str, count: int) -> list[ClientConnection]:
    """``count`` authenticated connections, at most 50 handshakes in flight."""
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> ClientConnection:
        token = sign_token(DEFAULT_WS_SECRET, f"user-{index}", ttl=600)
        async with gate:
            return await connect(f"{url}?token={token}", open_timeout=WAIT, max_size=None)

    return await asyncio.gather(*(one(index) for index in range(count)))


async def next_frame(websocket: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind``, skipping others."""
    while True:
        frame: dict[str, Any] = json.loads(await websocket.recv())
        if frame["type"] == kind:
            return frame


async def subscribe_all(connections: list[ClientConnection]) -> None:
    """Every connection subscribes to the channel; returns when all acks arrived."""
    gate = asyncio.Semaphore(50)

    async def one(websocket: ClientConnection) -> None:
        async with gate:
            await websocket.send(json.dumps({"action": "subscribe", "channel": CHANNEL}))
            ack = await next_frame(websocket, "ack")
            assert "seq" in ack, ack

    await asyncio.wait_for(asyncio.gather(*(one(ws) for ws in connections)), WAIT)


async def publish_once(connections: list[ClientConnection], number: int) -> tuple[float, Any]:
    """Seconds from the publish to the last delivery, and the publish's ack."""
    publisher = connections[0]
    receivers = [asyncio.create_task(next_frame(ws, "message")) for ws in connections[1:]]
    started = time.monotonic()
    await publisher.send(
        json.dumps({"action": "publish", "channel": CHANNEL, "data": {"n": number}, "id": "p"})
    )
    own: list[dict[str, Any]] = []
    while len(own) < 2:  # the publisher gets its own message and the ack, in either order
        own.append(json.loads(await asyncio.wait_for(publisher.recv(), WAIT)))
    messages = await asyncio.wait_for(asyncio.gather(*receivers), WAIT)
    elapsed = time.monotonic() - started
    assert all(message["data"] == {"n": number} for message in messages)
    ack = next(frame for frame in own if frame["type"] == "ack")
    return elapsed, ack


async def bench(url: str, count: int, publishes: int) -> dict[str, Any]:
    """The measurements after start-up."""
    started = time.monotonic()
    connections = await asyncio.wait_for(open_connections(url, count), WAIT)
    connected = time.monotonic() - started
    started = time.monotonic()
    await subscribe_all(connections)
    subscribed = time.monotonic() - started
    fanouts: list[float] = []
    acks: list[Any] = []
    for number in range(publishes):
        elapsed, ack = await publish_once(connections, number)
        fanouts.append(elapsed)
        acks.append(ack)
    await asyncio.gather(*(ws.close() for ws in connections))
    return {
        "connect": connected,
        "subscribe": subscribed,
        "fanouts": fanouts,
        "acks": acks,
    }


def main() -> None:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--publishes", type=int, default=5)
    parser.add_argument("--workers", type=int, default=4, help="gateway workers per function")
    parser.add_argument(
        "--threshold",
        type=int,
        help="FANOUT_QUEUE_THRESHOLD (default: the template's 500; above it, SQS)",
    )
    args = parser.parse_args()
    gateway = start_gateway(args.workers, args.threshold)
    try:
        result = asyncio.run(bench(gateway.url, args.connections, args.publishes))
    finally:
        gateway.stop()
    fanouts = result["fanouts"]
    last_ack = result["acks"][-1]
    print(
        f"machine: {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    print(
        f"connections: {args.connections}, publishes: {args.publishes}, "
        f"workers per function: {args.workers}"
    )
    print("| measure | value |")
    print("| --- | ---: |")
    print(f"| start-up to ready (spawn to Ready line) | {gateway.spawned_to_ready:.2f} s |")
    print(
        f"| start-up, as the gateway reports it (listening / ready) | "
        f"{gateway.listening:.2f} s / {gateway.ready:.2f} s |"
    )
    print(f"| {args.connections} connections opened | {result['connect']:.2f} s |")
    print(f"| {args.connections} subscriptions acked | {result['subscribe']:.2f} s |")
    print(f"| one publish to all {args.connections}, first | {fanouts[0]:.2f} s |")
    print(
        f"| one publish to all {args.connections}, median of {len(fanouts)} | "
        f"{statistics.median(fanouts):.2f} s |"
    )
    print(f"| one publish to all {args.connections}, best | {min(fanouts):.2f} s |")
    print(
        f"| last publish's ack (delivered / queued / pruned / failed) | "
        f"{last_ack.get('delivered')} / {last_ack.get('queued', 0)} / "
        f"{last_ack.get('pruned')} / {last_ack.get('failed')} |"
    )


if __name__ == "__main__":
    main()
