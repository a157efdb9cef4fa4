"""The local gateway as a child process, for the benchmarks and the fuzzer.

:func:`start_gateway` spawns ``python -m local_gateway`` on 127.0.0.1 with a free port, the
project's template and the local development secret, waits for its ``Ready`` line, then
keeps draining its console (one line per event) in a thread so that it never blocks.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from local_gateway.settings import DEFAULT_WS_SECRET

__all__ = ["READY", "GatewayProcess", "start_gateway"]

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"^Ready in ([\d.]+)s \(listening after ([\d.]+)s\): (ws://\S+)$")


@dataclasses.dataclass(frozen=True)
class GatewayProcess:
    """A running gateway: its process, its URL, and its start-up times in seconds."""

    process: subprocess.Popen[str]
    url: str
    spawned_to_ready: float  # measured here, from the spawn to the Ready line
    ready: float  # as the gateway reports it
    listening: float  # as the gateway reports it

    def stop(self, timeout: float = 60) -> None:
        """Terminate the gateway (it closes its connections and workers) and wait for it."""
        self.process.terminate()
        self.process.wait(timeout)


def start_gateway(
    args: Sequence[str] = (), *, console: Callable[[str], object] | None = None
) -> GatewayProcess:
    """Start a gateway with ``args`` added to its command line; every console line goes to
    ``console`` (from a thread once ready). Exits with the console's tail if it never gets
    ready."""
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_gateway",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-watch",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "WS_SECRET": DEFAULT_WS_SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    sink = console or (lambda _line: None)
    tail: collections.deque[str] = collections.deque(maxlen=20)
    for line in process.stdout:
        sink(line)
        tail.append(line)
        found = READY.match(line.strip())
        if found:
            measured = time.monotonic() - started
            threading.Thread(target=_drain, args=(process.stdout, sink), daemon=True).start()
            return GatewayProcess(
                process, found.group(3), measured, float(found.group(1)), float(found.group(2))
            )
    process.wait(60)
    raise SystemExit("the gateway did not start:\n" + "".join(tail))


def _drain(lines: Iterable[str], sink: Callable[[str], object]) -> None:
    for line in lines:
        sink(line)
