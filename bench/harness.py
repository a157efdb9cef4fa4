"""What every benchmark shares: the signed-frame payload, the children's environment and
credentials, the stand-in ``@connections`` server in its own process, progress lines, and a
description of the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "CHILD_ENV",
    "FRAME",
    "ROOT",
    "Server",
    "bench_credentials",
    "machine",
    "progress",
    "run_child",
    "setup_path",
]

ROOT = Path(__file__).resolve().parents[1]
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
    """``devtools.management_server`` in its own process (so its CPU is not ours)."""

    def __init__(self, delay_ms: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.management_server", "--delay-ms", str(delay_ms)],
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


def run_child(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float, what: str, tail: int
) -> str:
    """The stdout of a child process; exits with the last ``tail`` characters of its stderr
    (named ``what``) when it fails."""
    out = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if out.returncode:
        raise SystemExit(f"{what} failed:\n{out.stderr[-tail:]}")
    return out.stdout


def setup_path() -> None:
    """The library and the project on ``sys.path``; the children's environment in ours."""
    for path in (str(ROOT / "layers" / "switchboard"), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.update(CHILD_ENV)
