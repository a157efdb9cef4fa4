"""B5: through the local gateway, one publish to 1,000 connected subscribers, both engines.

Inline (the publishing function delivers) and via SQS (the fan-out worker delivers);
:mod:`bench.gateway_fanout` drives the gateway.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from typing import Any

from bench import gateway_fanout
from bench.harness import progress

__all__ = ["run", "table"]


def run(connections: int, publishes: int) -> dict[str, Any]:
    """One publish to ``connections`` subscribers through the local gateway, both engines."""
    result: dict[str, Any] = {"connections": connections, "publishes": publishes}
    inline = connections + 1  # above the subscriber count: the publishing function delivers
    runs = (("fast", "fast", inline), ("boto3", "boto3", inline), ("fast, via SQS", "fast", 100))
    for name, engine, threshold in runs:
        progress(f"B5: {connections} subscribers through the local gateway, {name}")
        os.environ["DELIVERY_ENGINE"] = engine
        gateway = gateway_fanout.start_gateway(4, threshold)
        try:
            measured = asyncio.run(gateway_fanout.bench(gateway.url, connections, publishes))
        finally:
            gateway.stop()
        fanouts = measured["fanouts"]
        ack = measured["acks"][-1]
        result[name] = {
            "threshold": threshold,
            "median_s": round(statistics.median(fanouts), 3),
            "best_s": round(min(fanouts), 3),
            "all_s": [round(f, 3) for f in fanouts],
            "delivered": ack.get("delivered"),
            "queued": ack.get("queued", 0),
            "failed": ack.get("failed"),
        }
    os.environ.pop("DELIVERY_ENGINE", None)
    return result


def table(results: dict[str, Any]) -> list[str]:
    """B5's table."""
    b = results["b5"]
    title = f"### B5: one publish to {b['connections']} subscribers through the local gateway"
    lines = [
        title,
        "",
        "Inline: the publishing function delivers (threshold above the subscriber count); "
        "via SQS: `FANOUT_QUEUE_THRESHOLD=100`, so the publish enqueues batches and the "
        "fan-out worker, polled from the embedded moto SQS, delivers them.",
        "",
        "| engine | path | until all have it (median) | best | delivered / queued / failed |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for name, row in b.items():
        if not isinstance(row, dict):
            continue
        path = "SQS" if row.get("queued") else "inline"
        lines.append(
            f"| {name.split(',')[0]} | {path} | {row['median_s']} s | {row['best_s']} s | "
            f"{row['delivered']} / {row.get('queued', 0)} / {row['failed']} |"
        )
    lines.append("")
    return lines
