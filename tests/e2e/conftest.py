"""Fixtures for the end-to-end tests: a local gateway on a free port, driven by real clients.

Each gateway is ``python -m local_gateway`` in its own process, on 127.0.0.1 with port 0,
serving a template (the fixture application by default). Its console output is collected,
so a test can wait for a line (a reload, an event).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
READY = re.compile(r"^Ready in [\d.]+s .*: (ws://\S+)$")
START_TIMEOUT = 30.0


class GatewayProcess:
    """A running gateway: its URLs, its console lines, and where its functions record events."""

    def __init__(self, process: subprocess.Popen[str], records: Path) -> None:
        self.process = process
        self.records = records
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        """The first console line from index ``start`` on that matches ``pattern``."""
        compiled = re.compile(pattern)
        found: list[re.Match[str]] = []

        def matched(lines: list[str]) -> bool:
            found.extend(m for m in map(compiled.search, lines[start:]) if m)
            return bool(found)

        self.wait_until(matched, timeout, f"a line matching {pattern!r}")
        return found[0]

    def wait_until(
        self, condition: Callable[[list[str]], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        """Wait until ``condition`` holds of the console lines (checked on every new line)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    output = "\n".join(self.lines[-40:])
                    raise AssertionError(f"no {what or 'such lines'}; output:\n{output}")
                self._changed.wait(remaining)

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.url.replace("ws://", "http://", 1)

    def management(self, stage: str | None = None) -> Any:
        """A boto3 Management API client pointed at the gateway, as the functions use it."""
        endpoint = self.http_url + (f"/{stage}" if stage else "")
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def record(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The event that a fixture function recorded under ``name``."""
        path = self.records / f"{name}.json"
        deadline = time.monotonic() + timeout
        while not path.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was never recorded")
            time.sleep(0.02)
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def stop(self) -> None:
        """SIGTERM, then wait (the gateway closes its connections and workers)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)


StartGateway = Callable[..., GatewayProcess]


def subscribed_clients(
    stack: contextlib.ExitStack, gateway: GatewayProcess, channel: str, count: int
) -> list[Any]:
    """``count`` real websockets clients (users user0, user1, ...), each subscribed to
    ``channel`` (the ack checked); closed when ``stack`` closes."""
    from websockets.sync.client import connect

    clients = []
    for n in range(count):
        token = sign_token(DEFAULT_WS_SECRET, f"user{n}")
        client = stack.enter_context(connect(f"{gateway.url}?token={token}"))
        client.send(json.dumps({"action": "subscribe", "channel": channel, "id": f"s{n}"}))
        ack = json.loads(client.recv(timeout=10))
        assert (ack["type"], ack["id"]) == ("ack", f"s{n}"), ack
        clients.append(client)
    return clients


@pytest.fixture(scope="module")
def start_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartGateway]:
    """A factory: ``start_gateway(template=..., extra_args=[...], env={...})``.

    ``function_env`` adds variables to every function's environment (the ``Parameters`` of
    the gateway's ``--env-vars`` file, as ``sam local`` reads it).
    """
    started: list[GatewayProcess] = []

    def start(
        template: Path = FIXTURES / "template.yaml",
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        function_env: dict[str, str] | None = None,
    ) -> GatewayProcess:
        workdir = tmp_path_factory.mktemp("gateway")
        records = workdir / "records"
        records.mkdir()
        env_vars = workdir / "env.json"
        parameters = {"RECORD_DIR": str(records), **(function_env or {})}
        env_vars.write_text(json.dumps({"Parameters": parameters}))
        command = [
            sys.executable,
            "-m",
            "local_gateway",
            "--template",
            str(template),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--env-vars",
            str(env_vars),
            *(extra_args or []),
        ]
        environment = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "WS_SECRET": DEFAULT_WS_SECRET,
            **(env or {}),
        }
        environment.pop("DYNAMODB_ENDPOINT", None)
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        gateway = GatewayProcess(process, records)
        started.append(gateway)
        gateway.url = gateway.wait_for_line(READY.pattern, timeout=START_TIMEOUT).group(1)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def fixture_gateway(
    start_gateway: StartGateway, tmp_path_factory: pytest.TempPathFactory
) -> GatewayProcess:
    """The fixture application, with a static root holding a demo page and a client build."""
    static = tmp_path_factory.mktemp("static")
    (static / "clients" / "demo").mkdir(parents=True)
    (static / "clients" / "demo" / "index.html").write_text("<!doctype html><title>demo</title>")
    (static / "clients" / "demo" / "demo.js").write_text('import "/client/switchboard.js";\n')
    (static / "clients" / "js" / "dist").mkdir(parents=True)
    (static / "clients" / "js" / "dist" / "switchboard.js").write_text("export {};\n")
    return start_gateway(extra_args=["--static-root", str(static)])


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    """A copy of the fixture application that a test may change."""
    target = tmp_path / "app"
    shutil.copytree(FIXTURES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
