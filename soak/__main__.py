"""``python -m soak`` (``make soak``): the local gateway under load with faults injected.

Runs the real local gateway (template.yaml's functions, embedded DynamoDB and SQS) in this
process with :mod:`local_gateway.faults` on, and soak/clients.mjs in Node: subscribers that
are the real browser client (some dropped or restarted at random, resuming), publishers over
WebSocket and ``POST /publish``, on channels whose fan-out is inline (``--small-channels``)
and over the SQS threshold (``--big-channels``). When publishing stops, the faults are
switched off and one fence message per channel lets every subscriber notice what it missed
last. :mod:`soak.checker` then compares what each subscriber's application layer received
with what was acknowledged. The last line is the summary; the exit status is 1 if anything
was lost, duplicated or out of order (or a ``--min-*`` bound was not met).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import random
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from local_gateway.__main__ import run
from local_gateway.faults import FaultError, Faults, parse_faults
from local_gateway.settings import DEFAULT_WS_SECRET, Settings
from soak.checker import Verdict, check

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = Path(__file__).with_name("clients.mjs")
CLIENT_DIR = ROOT / "clients" / "js"

# About 7% of @connections posts fail (429, 500, 410) and 1% are slow, 3% of DynamoDB calls
# are throttled or fail, a few invocations die or time out, a tenth of SQS batches come back.
# A 410 drops the subscriber's socket: per post, its rate grows with the fan-out, so it is
# kept low (each one is a reconnect and a resubscribe on every channel).
DEFAULT_FAULTS = (
    "post_429=0.04,post_500=0.025,post_410=0.0002,post_slow=0.01,post_delay=0.2,"
    "dynamodb_throttle=0.02,dynamodb_error=0.01,kill=0.003,timeout=0.0005,sqs_redeliver=0.1"
)


class _LogFile(io.TextIOBase):
    """The gateway's console, into a file; notices its "Ready" line."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w", encoding="utf-8")
        self.ready = asyncio.Event()

    def write(self, text: str) -> int:
        if text.startswith("Ready in "):
            self.ready.set()
        return self.file.write(text)

    def flush(self) -> None:
        self.file.flush()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _plan(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """Channels, who subscribes to what, and the publishers."""
    if args.load:  # one channel, every subscriber on it; the steps publish (clients.mjs)
        return {
            "channels": ["load:0"],
            "subscribers": [["load:0"]] * args.subscribers,
            "wsPublishers": [{}] * args.ws_publishers,
            "httpPublishers": [],
            "seed": rng.randrange(2**32),
            "load": {
                "rates": args.load,
                "stepSeconds": args.step_seconds,
                "gapMs": 2000,
                "stopMs": 500,  # a p50 twice the first step's and above it ends the ladder
            },
        }
    big = [f"soak:big-{n}" for n in range(args.big_channels)]
    small = [f"soak:small-{n}" for n in range(args.small_channels)]
    per = min(args.small_per_subscriber, len(small))
    subscribers = []
    for n in range(args.subscribers):  # every big channel, and `per` small ones
        subscribers.append(big + [small[(n * per + k) % len(small)] for k in range(per)])
    channels = big + small
    count = args.ws_publishers + args.http_publishers

    def publisher(k: int) -> dict[str, Any]:
        """Publisher k owns every channel i with i % count == k (a channel with one owner
        gets its messages one at a time); with more publishers than channels, they share."""
        owned = channels[k::count] or [channels[k % len(channels)]]
        interval = args.big_interval_ms if set(owned) <= set(big) else args.publish_interval_ms
        return {"channels": owned, "intervalMs": interval}

    return {
        "channels": channels,
        "subscribers": subscribers,
        "wsPublishers": [publisher(k) for k in range(args.ws_publishers)],
        "httpPublishers": [publisher(args.ws_publishers + k) for k in range(args.http_publishers)],
        "seed": rng.randrange(2**32),
    }


async def _soak(args: argparse.Namespace, out: TextIO) -> int:
    rng = random.Random(args.seed)  # a test's random choices
    fault_settings = parse_faults(f"{args.faults},seed={rng.randrange(2**32)}")
    faults = Faults(fault_settings)
    faults.active = False  # on once every subscriber is in
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    log = _LogFile(workdir / "gateway.log")
    port = _free_port()
    settings = Settings(
        template=ROOT / "template.yaml",
        host="127.0.0.1",
        port=port,
        watch=False,
        quiet_functions=not args.function_logs,
        workers_per_function=args.workers,
        sqs_visibility_timeout=args.visibility_timeout,
        env_vars={"Parameters": {"FANOUT_QUEUE_THRESHOLD": str(args.threshold)}},
        faults=fault_settings,
    )
    stop = asyncio.Event()
    with contextlib.redirect_stdout(log):
        gateway = asyncio.create_task(run(settings, stop, faults))
        await asyncio.wait_for(log.ready.wait(), 120)
    # moto's own errors under concurrency (a 500 that botocore retries): not for the console
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    config = {
        **_plan(args, rng),
        "url": f"ws://127.0.0.1:{port}",
        "http": f"http://127.0.0.1:{port}",
        "secret": DEFAULT_WS_SECRET,
        "clientDir": str(CLIENT_DIR),
        "duration": args.duration,
        "dropEveryMs": args.drop_every_ms,
        "restartShare": 0.25,
        "requestTimeoutMs": 15000,
        "wave": 25,
        "settleSeconds": args.settle,
        "result": str(workdir / "record.json"),
    }
    if args.load:
        out.write(
            f"soak: load: {args.subscribers} subscribers of one channel (fan-out "
            f"{'over' if args.subscribers > args.threshold else 'within'} the SQS threshold of "
            f"{args.threshold}), {args.ws_publishers} WebSocket publishers, steps of "
            f"{args.step_seconds:g}s at {', '.join(f'{r:g}' for r in args.load)} publishes/s; "
            f"faults {fault_settings.describe() or 'off'}; log {log.file.name}\n"
        )
    else:
        out.write(
            f"soak: {args.subscribers} subscribers on {len(config['channels'])} channels "
            f"({args.big_channels} over the SQS threshold of {args.threshold}), "
            f"{args.ws_publishers} WebSocket + {args.http_publishers} HTTP publishers, "
            f"{args.duration:g}s; faults {fault_settings.describe()}; log {log.file.name}\n"
        )
    out.flush()
    limit = args.time_limit or _time_limit(args)
    outcome = await run_clients(["node", str(CLIENTS)], config, faults, limit, gateway)
    stop.set()
    with contextlib.redirect_stdout(log):
        try:
            await asyncio.wait_for(gateway, 60)
        except TimeoutError:
            out.write("soak: the gateway took over 60s to stop\n")
    log.flush()
    status = _report(out, outcome, faults, args)
    if status == 0 and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


def _time_limit(args: argparse.Namespace) -> float:
    """How long the clients may take in all: connecting, publishing, catching up."""
    return args.duration + args.settle + 120 + args.subscribers * 0.2


@dataclasses.dataclass
class Outcome:
    """What the clients left: their record (None if they left none), and why they stopped
    early (None when they finished)."""

    record: dict[str, Any] | None
    reason: str | None
    elapsed: float


async def run_clients(
    command: list[str],
    config: dict[str, Any],
    faults: Faults,
    limit: float,
    gateway: asyncio.Future[None] | None = None,
    grace: float = 20.0,
) -> Outcome:
    """Run the clients (``command`` + the config as JSON) through their phases within
    ``limit`` seconds; past it, they are told to stop (SIGTERM: they write what they
    received so far; SIGKILL after ``grace`` seconds) and every acknowledged message not
    delivered counts as lost."""
    node = await asyncio.create_subprocess_exec(
        *command,
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert node.stdin is not None
    assert node.stdout is not None
    if gateway is not None:  # a gateway that stops (Ctrl-C, SIGTERM) takes the clients along
        gateway.add_done_callback(lambda _task: node.returncode is None and node.kill())
    started = time.monotonic()
    phase = "connecting the subscribers"
    reason = None
    try:
        async with asyncio.timeout(limit):
            while line := await node.stdout.readline():
                said = json.loads(line).get("phase")
                if said == "ready":
                    faults.active = True
                    started = time.monotonic()
                    phase = "publishing"
                    node.stdin.write(b"start\n")
                elif said == "settle":
                    faults.active = False
                    phase = "waiting for every subscriber to catch up with the fences"
                    node.stdin.write(b"fence\n")
                elif said == "done":
                    break
                await node.stdin.drain()
            code = await node.wait()
        if code != 0:
            reason = f"the clients exited with status {code}"
    except TimeoutError:
        reason = (
            f"the clients did not finish within {limit:.0f}s (still {phase}): they were "
            "stopped, and every acknowledged message not delivered counts as lost"
        )
        faults.active = False
        await _stop(node, grace)
    finally:
        if node.returncode is None:  # cancelled (Ctrl-C): take the clients down too
            node.kill()
            await node.wait()
    path = Path(config["result"])
    record = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return Outcome(record, reason, time.monotonic() - started)


async def _stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM (the clients write their record and exit), then SIGKILL if it takes long."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _report(out: TextIO, outcome: Outcome, faults: Faults, args: argparse.Namespace) -> int:
    """Print what happened, the summary line last; 0 when nothing went wrong."""
    record = outcome.record
    if record is None:
        verdict = Verdict()
        out.write("soak: the clients left no record: nothing could be checked\n")
    else:
        verdict = check(record)
        _details(out, verdict, faults, record, outcome.elapsed)
        for step in record.get("load") or []:
            out.write(_load_line(step, len(record["subscribers"])) + "\n")
    failed = not verdict.ok or record is None or outcome.reason is not None
    if outcome.reason is not None:
        out.write(f"soak: {outcome.reason}\n")
    if verdict.deliveries < args.min_deliveries:
        out.write(f"soak: fewer than {args.min_deliveries} deliveries checked\n")
        failed = True
    if _post_fault_share(faults) < args.min_post_faults:
        out.write(f"soak: fewer than {args.min_post_faults:.0%} of posts faulted\n")
        failed = True
    out.write(
        f"soak: {verdict.deliveries} deliveries checked, {faults.injected} faults injected, "
        f"{verdict.lost} lost, {verdict.duplicated} duplicated, {verdict.resets} resets\n"
    )
    out.flush()
    return 1 if failed else 0


def _load_line(step: dict[str, Any], subscribers: int) -> str:
    """One load step: what was offered, what was held, and the latencies."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} ms"

    seconds = step["seconds"] or 1.0
    return (
        f"soak: load: {step['rate']:g} publishes/s offered to {subscribers} subscribers: "
        f"{step['acked'] / seconds:.1f} acknowledged/s ({step['failed']} not), "
        f"{step['received'] / seconds:.0f} deliveries/s; publish-to-receive p50 "
        f"{ms(step['p50'])}, p99 {ms(step['p99'])}; ack p50 {ms(step['ackP50'])}, "
        f"p99 {ms(step['ackP99'])}"
    )


def _post_fault_share(faults: Faults) -> float:
    summary = faults.summary()
    failed = sum(summary["faults"].get(name, 0) for name in ("post_429", "post_500", "post_410"))
    return failed / summary["posts"] if summary["posts"] else 0.0


def _details(
    out: TextIO, verdict: Verdict, faults: Faults, record: dict[str, Any], elapsed: float
) -> None:
    summary = faults.summary()
    faulted = summary["faults"]
    post_faults = sum(faulted.get(name, 0) for name in ("post_429", "post_500", "post_410"))
    slow = summary["faults"].get("post_slow", 0)
    share = _post_fault_share(faults)
    mix = ", ".join(f"{name}={count}" for name, count in sorted(summary["faults"].items()))
    counts = record["counts"]
    out.write(
        f"soak: {elapsed:.0f}s, {len(record['published'])} messages acknowledged, "
        f"{summary['posts']} @connections posts of which {post_faults} failed ({share:.1%}) "
        f"and {slow} slow; "
        f"{summary['redelivered_records']} SQS records redelivered\n"
    )
    out.write(f"soak: fault mix: {mix or 'none'}\n")
    out.write(
        f"soak: clients: {counts['drops']} sockets dropped, {counts['restarts']} restarts with "
        f"resume, {counts['wsFailed']} WebSocket + {counts['httpFailed']} HTTP publishes not "
        f"acknowledged, {counts['httpRetries']} HTTP retries, {counts['subscribeRetries']} "
        f"subscribe retries, {counts['settled']}/{counts['subscribers']} caught up with the "
        f"fences; client errors {counts['errors']}\n"
    )
    reasons = ", ".join(f"{why}={n}" for why, n in sorted(verdict.reset_reasons.items()))
    out.write(
        f"soak: {verdict.covered_by_reset} messages covered by resets ({reasons or 'none'}), "
        f"{verdict.disordered} out of order, {verdict.mismatched} mismatched\n"
    )
    for example in verdict.examples:
        out.write(f"soak:   {example}\n")


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or not all(0 < rate <= 1000 for rate in rates):
        raise argparse.ArgumentTypeError("rates are publishes/s, above 0 and at most 1000")
    return rates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The soak's command line."""
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of publishing")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--big-channels", type=int, default=2, help="fanned out through SQS")
    parser.add_argument("--small-channels", type=int, default=4, help="fanned out inline")
    parser.add_argument("--threshold", type=int, default=100, help="FANOUT_QUEUE_THRESHOLD")
    parser.add_argument("--ws-publishers", type=int, default=4)
    parser.add_argument("--http-publishers", type=int, default=2)
    parser.add_argument(
        "--small-per-subscriber", type=int, default=1, help="inline channels per subscriber"
    )
    parser.add_argument("--publish-interval-ms", type=int, default=2000, help="per publisher")
    parser.add_argument(
        "--big-interval-ms",
        type=int,
        default=None,
        help="per publisher of channels over the SQS threshold (default: --publish-interval-ms)",
    )
    parser.add_argument("--drop-every-ms", type=int, default=1500, help="one subscriber dropped")
    parser.add_argument("--faults", default=DEFAULT_FAULTS, help="the FAULTS syntax")
    parser.add_argument("--workers", type=int, default=6, help="workers per function")
    parser.add_argument("--visibility-timeout", type=int, default=30, help="SQS, seconds")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to catch up")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds the clients may take in all (default: duration + settle + 120 + 0.2 "
        "per subscriber); past it they are stopped and what they missed counts as lost",
    )
    parser.add_argument("--min-deliveries", type=int, default=0)
    parser.add_argument("--min-post-faults", type=float, default=0.0, help="a share, e.g. 0.05")
    parser.add_argument(
        "--load",
        type=_rates,
        default=None,
        metavar="RATES",
        help="load figures instead: faults off, no drops, every subscriber on one channel, "
        "steps of --step-seconds at each rate (publishes/s, comma-separated, e.g. 5,10,20), "
        "up to the first that leaves a publish unacknowledged or whose publish-to-receive "
        "p50 is twice the first step's and over 500 ms",
    )
    parser.add_argument("--step-seconds", type=float, default=15.0, help="per load step")
    parser.add_argument("--function-logs", action="store_true", help="into the gateway log")
    parser.add_argument("--keep", action="store_true", help="keep the log and record")
    args = parser.parse_args(argv)
    if args.big_interval_ms is None:
        args.big_interval_ms = args.publish_interval_ms
    if args.load:
        args.faults, args.drop_every_ms, args.http_publishers = "", 0, 0
        args.duration = len(args.load) * (args.step_seconds + 2)
    try:
        parse_faults(args.faults)
    except FaultError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when nothing was lost or duplicated."""
    args = parse_args(argv)
    if shutil.which("node") is None or not (CLIENT_DIR / "dist" / "index.js").exists():
        sys.exit("soak: needs Node.js and the built client (make soak builds it)")
    return asyncio.run(_soak(args, sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
