"""``make bench``: the delivery engine against boto3 and the floor, cold starts, DynamoDB calls.

B1  CPU µs per delivery and deliveries per second against one local HTTP server (its own
    process, answering like ``@connections``): unsigned urllib3 (the floor), signed urllib3
    (stock ``AWSRequest`` + ``SigV4Auth``), the engine (a loop; its fan-out as deployed,
    32 posts in flight on one thread; and its posts from 32 threads), boto3 (a loop, and
    the fan-out's thread pool). Rounds are interleaved; the median is reported.
B2  2,000 deliveries at concurrency 64, the server adding 20 ms per request: wall time
    against the ideal N x 20 ms / 64, and CPU per delivery, for the engine (multiplexed,
    and from threads) and boto3.
B3  cold initialisation of each handler (import, and the objects its first event builds) in
    fresh processes laid out as on Lambda (function code, library, the layers' pinned
    packages, a bare Python), against ``import boto3`` plus one client; peak RSS. Tracing
    off. Rows with JwksUrl set add the crypto layer.
B4  every billed call of each operation (moto): DynamoDB calls with their write and read
    units, API Gateway messages, Lambda invocations, SQS requests; against the counts of the
    code before issue 17 (``bench/b4_before.json``).
B5  through the local gateway, one publish to 1,000 connected subscribers, both engines.

One module per benchmark (``bench/b1_cpu_per_delivery.py`` ... ``bench/b5_gateway_fanout.py``,
each a ``run`` and a ``table``; what they share is :mod:`bench.harness`); this runner runs
them, assembles the report and records it. Loopback only and bounded (fixed counts, time
limits). Writes ``bench/results.json`` and the results section of ``docs/benchmarks.md``.
``--quick`` runs smaller counts.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from bench import (
    b1_cpu_per_delivery,
    b2_slow_server,
    b3_cold_start,
    b4_billed_calls,
    b5_gateway_fanout,
)
from bench.harness import ROOT, machine, progress, setup_path

RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
ALL = ("b1", "b2", "b3", "b4", "b5")
TABLES = {
    "b1": b1_cpu_per_delivery.table,
    "b2": b2_slow_server.table,
    "b3": b3_cold_start.table,
    "b4": b4_billed_calls.table,
    "b5": b5_gateway_fanout.table,
}


def run_one(name: str, *, quick: bool) -> dict[str, Any]:
    """Run benchmark ``name`` with the counts of a full run, or smaller ones (``quick``)."""
    if name == "b1":
        return b1_cpu_per_delivery.run(n=500 if quick else 2000, rounds=2 if quick else 5)
    if name == "b2":
        return b2_slow_server.run(n=2000, concurrency=64, delay_ms=20, rounds=1 if quick else 3)
    if name == "b3":
        return b3_cold_start.run(runs=2 if quick else 9)
    if name == "b4":
        return b4_billed_calls.run(subscribers=10)
    return b5_gateway_fanout.run(connections=200 if quick else 1000, publishes=2 if quick else 3)


def report(results: dict[str, Any]) -> str:
    """The markdown results section: the machine, then each benchmark's tables."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, {m['system']}. "
        f"Run on {results['date']} with `{results['command']}`.",
        "",
    ]
    for name in ALL:
        if name in results:
            lines += TABLES[name](results)
    return "\n".join(lines)


BEGIN = "<!-- results: written by make bench -->"
END = "<!-- end of results -->"


def write_doc(section: str) -> None:
    """Replace the results section of docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def main() -> None:
    """Run the benchmarks and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument(
        "--only", default=",".join(ALL), help="e.g. b1,b3 (prints; records nothing)"
    )
    args = parser.parse_args()
    setup_path()
    only = set(args.only.split(","))
    if not only <= set(ALL):
        parser.error(f"--only takes some of {','.join(ALL)}")
    quick = args.quick
    command = "make bench" + (" ARGS=--quick" if quick else "")
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "command": command,
    }
    for name in ALL:
        if name in only:
            results[name] = run_one(name, quick=quick)
    progress("")
    section = report(results)
    print(section)
    if only != set(ALL):
        # A partial run is for looking; the recorded tables always come from one full run.
        print(f"\npartial run (--only {args.only}): {RESULTS.relative_to(ROOT)} not written")
        return
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_doc(section)
    print(f"\nwrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
