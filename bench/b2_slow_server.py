"""B2: 2,000 deliveries at concurrency 64, the server adding 20 ms per request.

Wall time against the ideal N x 20 ms / 64, and CPU per delivery, for the engine
(multiplexed, and from threads) and boto3.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.harness import FRAME, Server, bench_credentials, progress

__all__ = ["run", "table"]


def run(n: int, concurrency: int, delay_ms: float, rounds: int) -> dict[str, Any]:
    """Wall time of a fan-out against a slow server, against the ideal."""

    from switchboard import sender as sender_module
    from switchboard.delivery import DeliveryEngine
    from switchboard.fanout import Fanout

    server = Server(delay_ms)
    ideal = n * delay_ms / 1000 / concurrency
    result: dict[str, Any] = {"n": n, "concurrency": concurrency, "delay_ms": delay_ms}
    try:
        credentials = bench_credentials()
        engine = DeliveryEngine(
            server.url, "us-east-1", credentials=credentials, pool_size=concurrency
        )
        sender_module.clear_clients()
        boto3_sender = sender_module.Sender.for_endpoint(
            server.url, "us-east-1", pool_size=concurrency
        )
        ids = [f"conn{i:06d}AbCd=" for i in range(n)]
        fanouts = {
            "engine": Fanout(
                engine.post, lambda _c: None, concurrency=concurrency, post_many=engine.post_many
            ),
            "engine, threads": Fanout(engine.post, lambda _c: None, concurrency=concurrency),
            "boto3": Fanout(boto3_sender.post, lambda _c: None, concurrency=concurrency),
        }
        for name, fanout in fanouts.items():
            fanout.deliver(ids[:concurrency], FRAME)  # open the pool's connections
            walls, cpus = [], []
            for round_number in range(rounds):
                progress(f"B2 round {round_number + 1}/{rounds}: {name}")
                started, cpu = time.perf_counter(), time.process_time()
                report = fanout.deliver(ids, FRAME)
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
                assert report.delivered == n, report
            wall = statistics.median(walls)
            result[name] = {
                "wall_s": round(wall, 3),
                "x_ideal": round(wall / ideal, 2),
                "walls": [round(w, 3) for w in walls],
                # the fan-out's CPU when the threads wait on the network, as against AWS
                "cpu_us": round(statistics.median(cpus) / n * 1e6, 1),
            }
        engine.shutdown()
    finally:
        server.stop()
    result["ideal_s"] = round(ideal, 3)
    return result


def table(results: dict[str, Any]) -> list[str]:
    """B2's table (CPU against B1's floor when B1 ran)."""
    b = results["b2"]
    lines = [
        f"### B2: {b['n']} deliveries, concurrency {b['concurrency']}, "
        f"server +{b['delay_ms']:g} ms",
        "",
        f"Ideal: {b['n']} x {b['delay_ms']:g} ms / {b['concurrency']} = {b['ideal_s']} s.",
        "",
        "| engine | wall (median) | x ideal (target <= 1.3x) | rounds | CPU µs / delivery |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    floor = results.get("b1", {}).get("rows", {}).get("unsigned urllib3 (floor)")
    for name in ("engine", "engine, threads", "boto3"):
        if name not in b:
            continue
        row = b[name]
        walls = ", ".join(f"{w}" for w in row["walls"])
        cpu = f"{row['cpu_us']}"
        if floor:
            cpu += f" ({round(row['cpu_us'] / floor['cpu_us'], 2)}x the B1 floor)"
        lines.append(f"| {name} | {row['wall_s']} s | {row['x_ideal']} | {walls} | {cpu} |")
    lines += [
        "",
        "CPU per delivery here is the fan-out's cost when its threads wait on the "
        "network, as they do against API Gateway.",
        "",
    ]
    return lines
