"""B4: every billed call of each operation, counted with moto in a child process.

DynamoDB calls with their write and read units, API Gateway messages, Lambda invocations,
SQS requests (:mod:`bench.dynamodb_calls` counts them); against the counts of the code
before issue 17 (``bench/b4_before.json``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from bench.harness import ROOT, progress, run_child

__all__ = ["run", "table"]


def run(subscribers: int) -> dict[str, Any]:
    """Billed calls per operation, counted with moto (a child process)."""
    progress("B4: billed calls")
    stdout = run_child(
        [sys.executable, "-m", "bench.dynamodb_calls", "--subscribers", str(subscribers)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'switchboard'}:{ROOT}"},
        timeout=300,
        what="B4",
        tail=3000,
    )
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def table(results: dict[str, Any]) -> list[str]:
    """B4's table: each operation's billed calls, now and before issue 17."""
    b = results["b4"]
    before_path = ROOT / "bench" / "b4_before.json"
    before = json.loads(before_path.read_text())["operations"] if before_path.exists() else {}
    lines = [
        f"### B4: billed calls per operation (moto, counted), {b['subscribers']} subscribers",
        "",
        "DynamoDB calls and their write/read request units (from the sizes of the items "
        "touched, by AWS's rules), API Gateway messages in/out, Lambda invocations (the "
        "fan-out worker's included), SQS requests. `before`: the same counter on the code "
        "before issue 17 (`bench/b4_before.json`); there, a publish past the channel's first "
        "`HistorySize` messages also evicted the oldest (one WRU more in its `BatchWriteItem`), "
        "which B4's young channel does not show.",
        "",
        "| operation | DynamoDB calls | WRU | RRU | messages in / out | Lambda | SQS | "
        "before: calls, WRU, RRU, out |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, row in b["operations"].items():
        old = before.get(name)
        was = (
            f"{old['calls']}, {old['wru']:g}, {old['rru']:g}, {old['apigw_messages_out']}"
            if old
            else "-"
        )
        lines.append(
            f"| {name} | {row['calls']} | {row['wru']:g} | {row['rru']:g} | "
            f"{row['apigw_messages_in']} / {row['apigw_messages_out']} | "
            f"{row['lambda_invocations']} | {row['sqs_requests']} | {was} |"
        )
    lines += ["", "Calls of the publish rows, in order:", ""]
    for name, row in b["operations"].items():
        if name.startswith("publish"):
            calls = ", ".join(f"{c['call']} {c['table']}" for c in row["dynamodb"])
            lines.append(f"- {name}: {calls}")
    lines.append("")
    return lines
