"""The delivery engine's CPU per delivery by fan-out concurrency, one local server.

``python -m bench.fanout_threads``: 2,000 posts per round (best of 3) to
``tests.management_server`` in its own process, answering at once, with 1 to 64 fan-out
threads. Against a server with no latency, threads buy nothing and cost GIL handoffs: the
table shows how much, which is why B1 reports the loop and the 32-thread fan-out apart.
Loopback only, bounded.
"""

from __future__ import annotations

import time

from bench.run import FRAME, Server, _setup_path

COUNTS = (1, 4, 8, 16, 32, 64)
POSTS = 2000


def main() -> None:
    """Print the table."""
    _setup_path()
    from botocore.credentials import Credentials

    from switchboard.delivery import DeliveryEngine
    from switchboard.fanout import Fanout

    server = Server()
    try:
        credentials = Credentials("ASIABENCHMARK", "bench-secret", "bench-session-token")
        ids = [f"conn{n:06d}AbCd=" for n in range(POSTS)]
        print("| fan-out threads | CPU µs / delivery | deliveries / s |")
        print("| ---: | ---: | ---: |")
        for threads in COUNTS:
            engine = DeliveryEngine(
                server.url, "us-east-1", credentials=credentials, pool_size=threads
            )
            fanout = Fanout(engine.post, lambda _c: None, concurrency=threads)
            fanout.deliver(ids[:threads], FRAME)  # open the pool's connections
            best_cpu, best_rate = float("inf"), 0.0
            for _round in range(3):
                cpu, wall = time.process_time(), time.perf_counter()
                report = fanout.deliver(ids, FRAME)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert report.delivered == POSTS, report
                best_cpu = min(best_cpu, cpu / POSTS * 1e6)
                best_rate = max(best_rate, POSTS / wall)
            engine.shutdown()
            print(f"| {threads} | {best_cpu:.1f} | {best_rate:,.0f} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
