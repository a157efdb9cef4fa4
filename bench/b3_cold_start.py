"""B3: cold initialisation of each handler in fresh processes laid out as on Lambda.

Import, and the objects its first event builds, then (a second figure) the DynamoDB client
that event makes on its first call, with the function code, the library, the
layers' pinned packages and a bare Python, against ``import boto3`` plus one client; peak
RSS. Tracing off. Rows with JwksUrl set add the crypto layer.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from bench.harness import CHILD_ENV, ROOT, progress, run_child

__all__ = ["B3_ROWS", "B3_RUNTIME", "ColdStart", "run", "table"]

# Each row runs in a fresh process laid out as Lambda lays out a function: the function's
# code directory (/var/task), the switchboard library and the layers' pinned packages
# (/opt/python), nothing else. With JwksUrl set, $connect and the backend API also get
# the crypto layer; those rows are marked and have no target (see docs/benchmarks.md).
APIGW = "https://abc123defg.execute-api.us-east-1.amazonaws.com/dev"
JWKS_ENV = {"JWKS_URL": "https://issuer.example/.well-known/jwks.json"}


@dataclass(frozen=True)
class ColdStart:
    """One B3 row: the code a cold start runs, where, and with which layers.

    ``code`` is Lambda's init (``import app``, which builds this process's container) and
    the objects the first event asks the container for; ``first_event`` is what that
    event then builds on its first call (the DynamoDB client), timed as a second figure.
    """

    code: str
    function: str | None = None  # functions/<name>, the handler's CodeUri
    crypto_layer: bool = False
    env: dict[str, str] = field(default_factory=dict)
    target: bool = True  # False: reported, not held to the target
    first_event: str = ""


BASELINE = "import boto3 + one client"
# The container the handler built at import, and the one DynamoDB client every model shares
# (made on the first call; the first event of every handler reads or writes a table: the
# fan-out worker's when a recipient is gone).
CONTAINER = "import app\nfrom switchboard import container\nbox = container.current()\n"
DYNAMODB_CLIENT = (
    "from switchboard.dynamodb_tables import MODELS\n"
    "assert len({id(m._get_connection().connection.client) for m in MODELS}) == 1"
)
B3_ROWS = {
    BASELINE: ColdStart(
        "import boto3\n"
        f"boto3.client('apigatewaymanagementapi', region_name='us-east-1', endpoint_url='{APIGW}')"
    ),
    "connect": ColdStart(
        CONTAINER + "box.connector()\nbox.verifier()", "connect", first_event=DYNAMODB_CLIENT
    ),
    "default": ColdStart(
        CONTAINER + "box.message_handler(box.endpoint_for('abc123defg', 'dev'))",
        "default",
        first_event=DYNAMODB_CLIENT,
    ),
    "disconnect": ColdStart(
        CONTAINER + "box.realtime(box.endpoint_for('abc123defg', 'dev'))",
        "disconnect",
        first_event=DYNAMODB_CLIENT,
    ),
    "publish (HTTP API)": ColdStart(
        CONTAINER + "box.verifier()\nbox.realtime(box.configured_endpoint())",
        "publish",
        first_event=DYNAMODB_CLIENT,
    ),
    "fanout_worker": ColdStart(
        CONTAINER + f"box.batch_worker()\nbox.realtime('{APIGW}')",
        "fanout_worker",
        first_event=DYNAMODB_CLIENT,
    ),
    # Backend events (docs/events.md): the streams' function. Its first event asks for the
    # channel states, which call DynamoDB through the store's one client, and the
    # EventBridge bus (a second botocore client): both are first-event time.
    "events (streams to EventBridge)": ColdStart(
        CONTAINER + "box.event_tables()",
        "events",
        env={"CHANNEL_STATES_TABLE": "switchboard-channel-states", "EVENT_BUS_NAME": "switchboard"},
        first_event="box.occupancy()\nbox.event_bus()\n"
        + DYNAMODB_CLIENT
        + "\nassert box.occupancy().client is MODELS[0]._get_connection().connection.client",
    ),
}
B3_ROWS |= {
    f"{name}, JwksUrl set (crypto layer)": replace(
        B3_ROWS[name], crypto_layer=True, env=JWKS_ENV, target=False
    )
    for name in ("connect", "publish (HTTP API)")
}
# The app's hooks (docs/hooks.md): $default with examples/hooks/app_hooks.py loaded (the
# module's directory first on the path, as HOOKS_PATH does locally); reported, no target.
B3_ROWS["default, with the example hooks"] = ColdStart(
    f"import sys\nsys.path.insert(0, {str(ROOT / 'examples' / 'hooks')!r})\n"
    "import app\n"
    "from switchboard import services\n"
    "services.message_handler(services.endpoint_for('abc123defg', 'dev'))",
    "default",
    env={"HOOKS_MODULE": "app_hooks"},
    target=False,
)
# Peak RSS from /proc/self/status (VmHWM, this process's own memory): getrusage's
# ru_maxrss survives fork and exec, so a child would report the parent's peak if larger.
B3_WRAPPER = (
    "import time\n"
    "started, cpu = time.perf_counter(), time.process_time()\n"
    "{code}\n"
    "elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - cpu\n"
    "{first_event}\n"
    "first = time.perf_counter() - started\n"
    "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
    "print(elapsed * 1000, first * 1000, elapsed_cpu * 1000, int(hwm.split()[1]) / 1024)\n"
)
B3_RUNTIME = ROOT / ".tools" / "b3-runtime"


def run(runs: int) -> dict[str, Any]:
    """Cold initialisation in fresh processes, round-robin, medians."""
    runtime = B3_RUNTIME
    if not (runtime / ".stamp").exists():
        raise SystemExit("B3 needs its runtime: make .tools/b3-runtime/.stamp (make bench does)")
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
        **CHILD_ENV,
        "PYTHONPYCACHEPREFIX": str(ROOT / ".tools" / "bench-pycache"),
        "MANAGEMENT_ENDPOINT": APIGW,
        "FANOUT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/fanout",
        "DELIVERY_ENGINE": "fast",
    }  # bytecode is written and kept: Lambda's runtime has its packages compiled
    base_env.pop("DYNAMODB_ENDPOINT", None)
    python = str(runtime / "venv" / "bin" / "python")
    samples: dict[str, list[tuple[float, ...]]] = {name: [] for name in B3_ROWS}
    for run in range(runs + 1):  # the first round compiles bytecode and is dropped
        for name, row in B3_ROWS.items():
            progress(f"B3 run {run}/{runs}: {name}")
            path = [ROOT / "layers" / "switchboard", runtime / "switchboard"]
            if row.function:
                path.insert(0, ROOT / "functions" / row.function)
            if row.crypto_layer:
                path.append(runtime / "crypto")
            stdout = run_child(
                [python, "-c", B3_WRAPPER.format(code=row.code, first_event=row.first_event)],
                cwd=ROOT / "functions" / (row.function or ""),
                env={**base_env, **row.env, "PYTHONPATH": os.pathsep.join(map(str, path))},
                timeout=60,
                what=f"B3 {name}",
                tail=2000,
            )
            if run:
                samples[name].append(tuple(float(x) for x in stdout.split()[-4:]))
    base = statistics.median(s[0] for s in samples[BASELINE])
    base_cpu = statistics.median(s[2] for s in samples[BASELINE])
    rows = {}
    for name, values in samples.items():
        ms = statistics.median(s[0] for s in values)
        first_ms = statistics.median(s[1] for s in values)
        cpu_ms = statistics.median(s[2] for s in values)
        rows[name] = {
            "init_ms": round(ms),
            "x_boto3": round(ms / base, 2),
            "first_event_ms": round(first_ms),
            "first_event_x_boto3": round(first_ms / base, 2),
            "init_cpu_ms": round(cpu_ms),
            "cpu_x_boto3": round(cpu_ms / base_cpu, 2),
            "peak_rss_mb": round(max(s[3] for s in values), 1),
            "init_ms_runs": [round(s[0]) for s in values],
            "target": B3_ROWS[name].target,
        }
    return {"runs": runs, "rows": rows}


def table(results: dict[str, Any]) -> list[str]:
    """B3's table."""
    b = results["b3"]
    lines = [
        f"### B3: cold initialisation in fresh processes (median of {b['runs']}, tracing off)",
        "",
        "| handler | init ms | x `import boto3` + client (target <= 0.9x) "
        "| init CPU ms | x (CPU) "
        "| + first event's clients, ms | x `import boto3` + client | peak RSS MB "
        "(target <= 64) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in b["rows"].items():
        ratio = f"{row['x_boto3']}" + ("" if row.get("target", True) else " (no target)")
        first = (
            (row["first_event_ms"], row["first_event_x_boto3"])
            if B3_ROWS[name].first_event
            else ("", "")
        )
        lines.append(
            f"| {name} | {row['init_ms']} | {ratio} | {row['init_cpu_ms']} | {row['cpu_x_boto3']} "
            f"| {first[0]} | {first[1]} "
            f"| {row['peak_rss_mb']} |"
        )
    lines += [
        "",
        "Each process is laid out as on Lambda: the function's code, the switchboard "
        "library and the layers' pinned packages (`.tools/b3-runtime`, installed once "
        "with uv), on a bare Python 3.13. With JwksUrl set, `$connect` and the backend "
        "API also load the crypto layer (`cryptography`, for RS256/ES256). *init* is "
        "Lambda's init (`import app`, which builds the container) and the objects the first "
        "event asks the container for; the next column adds what that event builds on its "
        "first call, the one DynamoDB client every table shares (the baseline's one client "
        "is the Management API's, a smaller service model); for the events function, its "
        "channel states (on that same client) and its EventBridge client. Peak RSS is "
        "after both. The events function's init is its container and table names; the "
        "channel states and the bus are what its first batch asks for. "
        "*init CPU* is the same init's CPU time (`time.process_time`): on a shared, loaded "
        "machine wall-clock medians move with the load, CPU time much less.",
        "",
    ]
    return lines
