"""The delivery engine's CPU per delivery by fan-out concurrency, one local server.

``python -m bench.fanout_threads``: 2,000 posts per round (best of 3) to
``devtools.management_server`` in its own process, answering at once, with 1 to 64 posts in
flight: from that many threads (each post through the urllib3 pool), and multiplexed on
one thread (``DeliveryEngine.post_many``, what the fan-out uses). Threads cost GIL
handoffs on every socket call; the table shows how much. Loopback only, bounded.
"""

from __future__ import annotations

import time

from bench.harness import FRAME, Server, bench_credentials, setup_path

COUNTS = (1, 4, 8, 16, 32, 64)
POSTS = 2000


def main() -> None:
    """Print the table."""
    setup_path()

    from switchboard.delivery import DeliveryEngine
    from switchboard.fanout import Fanout

    server = Server()
    try:
        credentials = bench_credentials()
        ids = [f"conn{n:06d}AbCd=" for n in range(POSTS)]
        print(
            "| posts in flight | threads: CPU µs / delivery | deliveries / s "
            "| one thread, multiplexed: CPU µs / delivery | deliveries / s |"
        )
        print("| ---: | ---: | ---: | ---: | ---: |")
        for count in COUNTS:
            engine = DeliveryEngine(
                server.url, "us-east-1", credentials=credentials, pool_size=count
            )
            cells = []
            for post_many in (None, engine.post_many):
                fanout = Fanout(
                    engine.post, lambda _c: None, concurrency=count, post_many=post_many
                )
                fanout.deliver(ids[:count], FRAME)  # open the connections
                best_cpu, best_rate = float("inf"), 0.0
                for _round in range(3):
                    cpu, wall = time.process_time(), time.perf_counter()
                    report = fanout.deliver(ids, FRAME)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    assert report.delivered == POSTS, report
                    best_cpu = min(best_cpu, cpu / POSTS * 1e6)
                    best_rate = max(best_rate, POSTS / wall)
                cells += [f"{best_cpu:.1f}", f"{best_rate:,.0f}"]
            engine.shutdown()
            print(f"| {count} | {' | '.join(cells)} |")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
