"""B1: CPU per delivery for every way of posting, side by side.

CPU µs per delivery and deliveries per second against one local HTTP server (its own
    process, answering like ``@connections``): unsigned urllib3 (the floor), signed urllib3
    (stock ``AWSRequest`` + ``SigV4Auth``), the engine (a loop; its fan-out as deployed,
    32 posts in flight on one thread; and its posts from 32 threads), boto3 (a loop, and
    the fan-out's thread pool). Rounds are interleaved; the median is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.harness import FRAME, Server, bench_credentials, progress

__all__ = ["run", "table"]

ENGINE_FANOUT = "engine, fan-out (32 in flight, one thread)"


def run(n: int, rounds: int) -> dict[str, Any]:
    """CPU per delivery for every way of posting, side by side."""
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from switchboard import sender as sender_module
    from switchboard.delivery import DeliveryEngine
    from switchboard.fanout import Fanout

    server = Server()
    try:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", server.port, maxsize=4)
        credentials = bench_credentials()
        stock = SigV4Auth(credentials, "execute-api", "us-east-1")
        engine = DeliveryEngine(server.url, "us-east-1", credentials=credentials, pool_size=32)
        boto3_sender = sender_module.Sender.for_endpoint(server.url, "us-east-1", pool_size=32)
        engine_fanout = Fanout(
            engine.post, lambda _c: None, concurrency=32, post_many=engine.post_many
        )
        engine_threads = Fanout(engine.post, lambda _c: None, concurrency=32)
        boto3_fanout = Fanout(boto3_sender.post, lambda _c: None, concurrency=32)

        def unsigned(cid: str) -> None:
            pool.urlopen("POST", f"/dev/@connections/{cid}", body=FRAME, retries=False)

        def signed(cid: str) -> None:
            request = AWSRequest(method="POST", url=f"{server.url}/@connections/{cid}", data=FRAME)
            stock.add_auth(request)
            pool.urlopen(
                "POST",
                f"/dev/@connections/{cid}",
                body=FRAME,
                headers=dict(request.headers.items()),
                retries=False,
            )

        loops: dict[str, Callable[[str], None]] = {
            "unsigned urllib3 (floor)": unsigned,
            "signed urllib3 (AWSRequest + SigV4Auth)": signed,
            "engine, loop": lambda cid: engine.post(cid, FRAME),
            "boto3, loop": lambda cid: boto3_sender.post(cid, FRAME),
        }
        fanouts = {
            ENGINE_FANOUT: engine_fanout,
            "engine, fan-out (32 threads)": engine_threads,
            "boto3, fan-out (32 threads)": boto3_fanout,
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in [*loops, *fanouts]}
        ids = [f"conn{i:06d}AbCd=" for i in range(n)]
        for loop in loops.values():  # warm-up: connections, caches
            for cid in ids[:100]:
                loop(cid)
        for fanout in fanouts.values():
            fanout.deliver(ids[:200], FRAME)
        for round_number in range(rounds):
            for name, runs in samples.items():
                progress(f"B1 round {round_number + 1}/{rounds}: {name}")
                cpu, wall = time.process_time(), time.perf_counter()
                if name in loops:
                    loop = loops[name]
                    for cid in ids:
                        loop(cid)
                else:
                    report = fanouts[name].deliver(ids, FRAME)
                    assert report.delivered == n, report
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                runs.append((cpu / n * 1e6, n / wall))
        engine.shutdown()
    finally:
        server.stop()
    rows = {
        name: {
            "cpu_us": round(statistics.median(s[0] for s in values), 1),
            "per_second": round(statistics.median(s[1] for s in values)),
            "cpu_us_rounds": [round(s[0], 1) for s in values],
        }
        for name, values in samples.items()
    }
    floor = rows["unsigned urllib3 (floor)"]["cpu_us"]
    boto3_loop = rows["boto3, loop"]["cpu_us"]
    boto3_fan = rows["boto3, fan-out (32 threads)"]["cpu_us"]
    for row in rows.values():
        row["x_floor"] = round(row["cpu_us"] / floor, 2)
    return {
        "n": n,
        "rounds": rounds,
        "rows": rows,
        "engine_loop_vs_floor": rows["engine, loop"]["x_floor"],
        "engine_loop_vs_boto3_loop": round(rows["engine, loop"]["cpu_us"] / boto3_loop, 2),
        "engine_fanout_vs_floor": rows[ENGINE_FANOUT]["x_floor"],
        "engine_fanout_vs_boto3_fanout": round(rows[ENGINE_FANOUT]["cpu_us"] / boto3_fan, 2),
        "engine_threads_vs_floor": rows["engine, fan-out (32 threads)"]["x_floor"],
    }


def bar(value: float, scale: float, width: int = 40) -> str:
    """An ASCII bar ``value / scale`` of ``width``."""
    return "#" * max(1, round(value / scale * width))


def table(results: dict[str, Any]) -> list[str]:
    """B1's table, chart and ratios."""
    b = results["b1"]
    lines = [
        f"### B1: CPU per delivery ({b['n']} posts per round, median of {b['rounds']})",
        "",
        "| client | CPU µs / delivery | x floor | deliveries / s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in b["rows"].items():
        lines.append(f"| {name} | {row['cpu_us']} | {row['x_floor']} | {row['per_second']:,} |")
    top = max(row["cpu_us"] for row in b["rows"].values())
    lines += ["", "```text", "CPU µs per delivery (shorter is better)"]
    for name, row in b["rows"].items():
        lines.append(f"{name:42s} {bar(row['cpu_us'], top):40s} {row['cpu_us']}")
    lines += [
        "```",
        "",
        f"- engine loop: {b['engine_loop_vs_floor']}x the floor (target <= 1.5x), "
        f"{b['engine_loop_vs_boto3_loop']}x boto3's loop (target <= 0.4x)",
        f"- engine fan-out (as deployed: one thread, 32 in flight): "
        f"{b['engine_fanout_vs_floor']}x the floor, "
        f"{b['engine_fanout_vs_boto3_fanout']}x boto3's fan-out; with 32 threads instead: "
        f"{b.get('engine_threads_vs_floor', '-')}x the floor",
        "",
    ]
    return lines
