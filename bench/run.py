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

Loopback only and bounded (fixed counts, time limits). Writes ``bench/results.json`` and
the results section of ``docs/benchmarks.md``. ``--quick`` runs smaller counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
ALL = ("b1", "b2", "b3", "b4", "b5")
DOC = ROOT / "docs" / "benchmarks.md"
FRAME = (
    b'{"type":"message","channel":"room:lobby","data":{"text":"hello, world"},'
    b'"seq":42,"epoch":"kT0cR2xVv5mQ","from":"alice","ts":1795636800000}'
)
CHILD_ENV = {
    "AWS_ACCESS_KEY_ID": "ASIABENCHMARK",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_SESSION_TOKEN": "bench-session-token",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "switchboard",
    "POWERTOOLS_METRICS_NAMESPACE": "Switchboard",
    "WS_SECRET": "bench-secret-that-is-long-enough-0123456789",
}


def progress(message: str) -> None:
    """One progress line on stderr, rewritten in place."""
    sys.stderr.write(f"\r\033[K{message}")
    sys.stderr.flush()


def machine() -> dict[str, Any]:
    """What the numbers ran on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


class Server:
    """``tests.management_server`` in its own process (so its CPU is not ours)."""

    def __init__(self, delay_ms: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.management_server", "--delay-ms", str(delay_ms)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/dev"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bench_credentials() -> Any:
    """The fixed credentials every benchmarked client signs with (as CHILD_ENV's)."""
    from botocore.credentials import Credentials

    return Credentials(
        CHILD_ENV["AWS_ACCESS_KEY_ID"],
        CHILD_ENV["AWS_SECRET_ACCESS_KEY"],
        CHILD_ENV["AWS_SESSION_TOKEN"],
    )


def setup_path() -> None:
    for path in (str(ROOT / "layers" / "switchboard"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.update(CHILD_ENV)


# ------------------------------------------------------------------ B1


ENGINE_FANOUT = "engine, fan-out (32 in flight, one thread)"


def b1(n: int, rounds: int) -> dict[str, Any]:
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


# ------------------------------------------------------------------ B2


def b2(n: int, concurrency: int, delay_ms: float, rounds: int) -> dict[str, Any]:
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


# ------------------------------------------------------------------ B3

# Each row runs in a fresh process laid out as Lambda lays out a function: the function's
# code directory (/var/task), the switchboard library and the layers' pinned packages
# (/opt/python), nothing else. With JwksUrl set, $connect and the backend API also get
# the crypto layer; those rows are marked and have no target (see docs/benchmarks.md).
APIGW = "https://abc123defg.execute-api.us-east-1.amazonaws.com/dev"
JWKS_ENV = {"JWKS_URL": "https://issuer.example/.well-known/jwks.json"}


@dataclass(frozen=True)
class ColdStart:
    """One B3 row: the code a cold start runs, where, and with which layers."""

    code: str
    function: str | None = None  # functions/<name>, the handler's CodeUri
    crypto_layer: bool = False
    env: dict[str, str] = field(default_factory=dict)
    target: bool = True  # False: reported, not held to the 1.0x target


BASELINE = "import boto3 + one client"
B3_ROWS = {
    BASELINE: ColdStart(
        "import boto3\n"
        f"boto3.client('apigatewaymanagementapi', region_name='us-east-1', endpoint_url='{APIGW}')"
    ),
    "connect": ColdStart(
        "import app\nfrom switchboard import services\nservices.connector()", "connect"
    ),
    "default": ColdStart(
        "import app\n"
        "from switchboard import services\n"
        "services.message_handler(services.endpoint_for('abc123defg', 'dev'))",
        "default",
    ),
    "disconnect": ColdStart(
        "import app\n"
        "from switchboard import services\n"
        "services.realtime(services.endpoint_for('abc123defg', 'dev'))",
        "disconnect",
    ),
    "publish (HTTP API)": ColdStart(
        "import app\n"
        "from switchboard import services\n"
        "services.verifier_source()\n"
        "services.realtime(services.configured_endpoint())",
        "publish",
    ),
    "fanout_worker": ColdStart(
        "import app\n"
        "from switchboard import services\n"
        "services.batch_worker()\n"
        f"services.realtime('{APIGW}')",
        "fanout_worker",
    ),
}
B3_ROWS |= {
    f"{name}, JwksUrl set (crypto layer)": replace(
        B3_ROWS[name], crypto_layer=True, env=JWKS_ENV, target=False
    )
    for name in ("connect", "publish (HTTP API)")
}
# Peak RSS from /proc/self/status (VmHWM, this process's own memory): getrusage's
# ru_maxrss survives fork and exec, so a child would report the parent's peak if larger.
B3_WRAPPER = (
    "import time\n"
    "started = time.perf_counter()\n"
    "{code}\n"
    "elapsed = time.perf_counter() - started\n"
    "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
    "print(elapsed * 1000, int(hwm.split()[1]) / 1024)\n"
)
B3_RUNTIME = ROOT / ".tools" / "b3-runtime"


def b3(runs: int) -> dict[str, Any]:
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
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in B3_ROWS}
    for run in range(runs + 1):  # the first round compiles bytecode and is dropped
        for name, row in B3_ROWS.items():
            progress(f"B3 run {run}/{runs}: {name}")
            path = [ROOT / "layers" / "switchboard", runtime / "switchboard"]
            if row.function:
                path.insert(0, ROOT / "functions" / row.function)
            if row.crypto_layer:
                path.append(runtime / "crypto")
            out = subprocess.run(
                [python, "-c", B3_WRAPPER.format(code=row.code)],
                cwd=ROOT / "functions" / (row.function or ""),
                env={**base_env, **row.env, "PYTHONPATH": os.pathsep.join(map(str, path))},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if out.returncode:
                raise SystemExit(f"B3 {name} failed:\n{out.stderr[-2000:]}")
            if run:
                ms, rss = (float(x) for x in out.stdout.split()[-2:])
                samples[name].append((ms, rss))
    base = statistics.median(s[0] for s in samples[BASELINE])
    rows = {}
    for name, values in samples.items():
        ms = statistics.median(s[0] for s in values)
        rows[name] = {
            "init_ms": round(ms),
            "x_boto3": round(ms / base, 2),
            "peak_rss_mb": round(max(s[1] for s in values), 1),
            "init_ms_runs": [round(s[0]) for s in values],
            "target": B3_ROWS[name].target,
        }
    return {"runs": runs, "rows": rows}


# ------------------------------------------------------------------ B4 and B5


def b4(subscribers: int) -> dict[str, Any]:
    """Billed calls per operation, counted with moto (a child process)."""
    progress("B4: billed calls")
    out = subprocess.run(
        [sys.executable, "-m", "bench.dynamodb_calls", "--subscribers", str(subscribers)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'switchboard'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"B4 failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def b5(connections: int, publishes: int) -> dict[str, Any]:
    """One publish to ``connections`` subscribers through the local gateway, both engines."""
    import asyncio

    from bench import gateway_fanout

    result: dict[str, Any] = {"connections": connections, "publishes": publishes}
    inline = connections + 1  # above the subscriber count: the publishing function delivers
    runs = (("fast", "fast", inline), ("boto3", "boto3", inline), ("fast, via SQS", "fast", 100))
    for name, engine, threshold in runs:
        progress(f"B5: {connections} subscribers through the local gateway, {name}")
        os.environ["DELIVERY_ENGINE"] = engine
        process, url, *_ = gateway_fanout.start_gateway(4, threshold)
        try:
            run = asyncio.run(gateway_fanout.bench(url, connections, publishes))
        finally:
            process.terminate()
            process.wait(60)
        fanouts = run["fanouts"]
        ack = run["acks"][-1]
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


# ------------------------------------------------------------------ report


def b4_table(b: dict[str, Any]) -> list[str]:
    """B4's table: each operation's billed calls, now and before issue 17."""
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


def bar(value: float, scale: float, width: int = 40) -> str:
    """An ASCII bar ``value / scale`` of ``width``."""
    return "#" * max(1, round(value / scale * width))


def report(results: dict[str, Any]) -> str:
    """The markdown results section: tables and an ASCII chart."""
    lines: list[str] = []
    m = results["machine"]
    lines += [
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, {m['system']}. "
        f"Run on {results['date']} with `{results['command']}`.",
        "",
    ]
    if "b1" in results:
        b = results["b1"]
        lines += [
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
    if "b2" in results:
        b = results["b2"]
        lines += [
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
    if "b3" in results:
        b = results["b3"]
        lines += [
            f"### B3: cold initialisation in fresh processes (median of {b['runs']}, tracing off)",
            "",
            "| handler | init ms | x `import boto3` + client (target <= 1.0x) | peak RSS MB "
            "(target <= 64) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, row in b["rows"].items():
            ratio = f"{row['x_boto3']}" + ("" if row.get("target", True) else " (no target)")
            lines.append(f"| {name} | {row['init_ms']} | {ratio} | {row['peak_rss_mb']} |")
        lines += [
            "",
            "Each process is laid out as on Lambda: the function's code, the switchboard "
            "library and the layers' pinned packages (`.tools/b3-runtime`, installed once "
            "with uv), on a bare Python 3.13. With JwksUrl set, `$connect` and the backend "
            "API also load the crypto layer (`cryptography`, for RS256/ES256).",
            "",
        ]
    if "b4" in results:
        lines += b4_table(results["b4"])
    if "b5" in results:
        b = results["b5"]
        lines += [
            f"### B5: one publish to {b['connections']} subscribers through the local gateway",
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
    if "b1" in only:
        results["b1"] = b1(n=500 if quick else 2000, rounds=2 if quick else 5)
    if "b2" in only:
        results["b2"] = b2(n=2000, concurrency=64, delay_ms=20, rounds=1 if quick else 3)
    if "b3" in only:
        results["b3"] = b3(runs=2 if quick else 9)
    if "b4" in only:
        results["b4"] = b4(subscribers=10)
    if "b5" in only:
        results["b5"] = b5(connections=200 if quick else 1000, publishes=2 if quick else 3)
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
