"""``make fuzz``: hostile input through the real local gateway, then a check that it still
works and that its log holds no traceback.

Starts ``python -m local_gateway`` (template.yaml's real handlers) on 127.0.0.1 and sends:

- frames (default 10,000) over several connections, each waiting for its reply: random
  text, random JSON, structured frames with fields of the wrong shape, lone surrogate
  escapes, deep nesting, non-finite numbers, truncated JSON, and a few frames that must
  close the connection (binary 1003, invalid UTF-8 1007, over 128 KB 1009);
- hostile ``POST /publish`` bodies (non-UTF-8, non-strict, deep, over 1 MB, ...), some
  without a credential or with a browser's;
- handshakes with hostile tokens, and with two tokens.

Every frame must get exactly one reply (``ack``, ``pong`` or ``error`` with a documented
code, never ``internal`` nor API Gateway's "Internal server error"), every received frame
must be strict JSON, every body a documented status (never 500), every hostile token a 401.
Afterwards two clients subscribe and receive a WebSocket publish and a ``POST /publish``.
Bounded: fixed counts, a timeout on every wait, loopback only. Exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devtools.gateway_process import start_gateway
from fuzz.hostile import Frame, hostile_body, hostile_frame, hostile_token
from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token

TRACEBACK = "Traceback (most recent call last)"
REPLY_TIMEOUT = 15.0
CLOSE_CODES = {1003, 1007, 1009}  # binary, invalid UTF-8, too big: the documented closes
SINGLE_FRAME_LIMIT = 32 * 1024  # API Gateway's: a larger frame may close with 1009
# The documented codes of an error frame; `internal` is a bug.
CODES = {"bad_request", "unknown_action", "forbidden", "payload_too_large", "rate_limited"}
BODY_STATUSES = {200, 400, 401, 403, 413}


@dataclass
class Report:
    """What was sent and what came back."""

    frames: Counter[str] = field(default_factory=Counter)  # by kind
    replies: Counter[str] = field(default_factory=Counter)  # by code
    closes: Counter[int] = field(default_factory=Counter)  # by close code
    pushed: int = 0  # message, join, leave frames between replies
    no_reply: int = 0
    unparseable: int = 0
    unexpected_closes: int = 0
    bodies: Counter[int] = field(default_factory=Counter)  # by status
    body_kinds: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    bad_bodies: list[str] = field(default_factory=list)
    handshakes: Counter[int] = field(default_factory=Counter)  # by status
    afterwards: str = "not run"
    tracebacks: int = 0
    elapsed: float = 0.0

    def failures(self) -> list[str]:
        """Every broken promise, in words; empty when the run passed."""
        failed = [
            f"{count} replies '{code}'"
            for code, count in self.replies.items()
            if not (code in {"ack", "pong"} or code.removeprefix("error:") in CODES)
        ]
        if self.no_reply:
            failed.append(f"{self.no_reply} frames without a reply")
        if self.unparseable:
            failed.append(f"{self.unparseable} received frames that are not strict JSON")
        if self.unexpected_closes:
            failed.append(f"{self.unexpected_closes} unexpected closes")
        failed += self.bad_bodies
        failed += [f"{n} handshakes answered {s}" for s, n in self.handshakes.items() if s != 401]
        if self.afterwards != "ok":
            failed.append(f"afterwards: {self.afterwards}")
        if self.tracebacks:
            failed.append(f"{self.tracebacks} tracebacks in the gateway log")
        return failed


def _strict(raw: str | bytes) -> Any:
    """Decode a received frame as RFC 8259 JSON (independently of the server's parser)."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    value = json.loads(raw, parse_constant=constant)
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")  # lone surrogates
    return value


def _token(user: str, **claims: Any) -> str:
    return sign_token(DEFAULT_WS_SECRET, user, ttl=3600, **claims)


async def _open(url: str, user: str) -> ClientConnection:
    return await connect(f"{url}?token={_token(user)}", open_timeout=REPLY_TIMEOUT)


async def _reply(websocket: ClientConnection, report: Report) -> dict[str, Any] | None:
    """The next reply (ack, pong, error), counting pushed frames received before it."""
    while True:
        try:
            raw = await asyncio.wait_for(websocket.recv(), REPLY_TIMEOUT)
        except TimeoutError:
            report.no_reply += 1
            return None
        try:
            frame = _strict(raw)
        except (ValueError, UnicodeEncodeError):
            report.unparseable += 1
            return None
        if not isinstance(frame, dict):
            report.unparseable += 1
            return None
        if frame.get("type") in {"ack", "pong"}:
            report.replies[frame["type"]] += 1
            return frame
        if frame.get("type") == "error":
            report.replies[f"error:{frame.get('code')}"] += 1
            return frame
        if "type" not in frame:  # API Gateway's own answer, e.g. "Internal server error"
            report.replies[f"gateway:{frame.get('message')}"] += 1
            return frame
        report.pushed += 1


async def _drive(url: str, user: str, frames: list[Frame], report: Report) -> None:
    """Send ``frames`` one at a time on one connection, reconnecting after each close."""
    websocket = await _open(url, user)
    try:
        for frame in frames:
            report.frames[frame.kind] += 1
            try:
                await websocket.send(frame.payload, text=frame.text)
                if not frame.closes:
                    await _reply(websocket, report)
                    continue
                await asyncio.wait_for(websocket.wait_closed(), REPLY_TIMEOUT)
                code = websocket.close_code
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else 1006
            except TimeoutError:
                code = -1  # never closed
            report.closes[code] += 1
            big = len(frame.payload) > SINGLE_FRAME_LIMIT
            if code not in CLOSE_CODES or not (frame.closes or (code == 1009 and big)):
                report.unexpected_closes += 1
            await websocket.close()
            websocket = await _open(url, user)
    finally:
        await websocket.close()


def _post_sync(http_url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    address = urlsplit(http_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        connection.request("POST", "/publish", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


async def _post(http_url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    return await asyncio.to_thread(_post_sync, http_url, body, headers)


async def _bodies(http_url: str, count: int, rng: random.Random, report: Report) -> None:
    server = {"Authorization": f"Bearer {_token('fuzz-backend', scope='publish')}"}
    browser = {"Authorization": f"Bearer {_token('fuzz-browser')}"}
    gate = asyncio.Semaphore(4)
    jobs = []
    for _ in range(count):
        kind, body = hostile_body(rng)
        roll = rng.random()
        if roll < 0.08:
            kind, headers = f"{kind}, no credential", {}
        elif roll < 0.14:
            kind, headers = f"{kind}, browser token", browser
        else:
            headers = server
        jobs.append((kind, body, {**headers, "Content-Type": "application/json"}))

    async def one(kind: str, body: bytes, headers: dict[str, str]) -> None:
        async with gate:
            status, answer = await _post(http_url, body, headers)
        report.bodies[status] += 1
        report.body_kinds[kind.split(",", maxsplit=1)[0]][status] += 1
        try:
            parsed = _strict(answer)
            documented = status == 200 or (isinstance(parsed, dict) and "code" in parsed)
        except (ValueError, UnicodeEncodeError):
            documented = False
        if status not in BODY_STATUSES or not documented:
            report.bad_bodies.append(f"POST /publish ({kind}) answered {status}: {answer[:80]!r}")

    await asyncio.gather(*(one(*job) for job in jobs))


async def _handshakes(url: str, count: int, rng: random.Random, report: Report) -> None:
    for index in range(count):
        if index % 10 == 0:  # two valid tokens in one request
            query = f"token={_token('a')}&token={_token('b')}"
        else:
            query = f"token={hostile_token(rng, DEFAULT_WS_SECRET)[1]}"
        try:
            websocket = await connect(f"{url}?{query}", open_timeout=REPLY_TIMEOUT)
        except InvalidStatus as refused:
            report.handshakes[refused.response.status_code] += 1
            continue
        report.handshakes[101] += 1
        await websocket.close()


async def _afterwards(url: str, http_url: str) -> str:
    """A normal subscribe and publish, over WebSocket and over POST /publish."""
    channel = "fuzz:after"
    alice, bob = await _open(url, "after-alice"), await _open(url, "after-bob")
    try:
        for client in (alice, bob):
            await client.send(json.dumps({"action": "subscribe", "channel": channel, "id": "s"}))
            ack = _strict(await asyncio.wait_for(client.recv(), REPLY_TIMEOUT))
            if (ack.get("type"), ack.get("id")) != ("ack", "s"):
                return f"subscribe answered {ack}"
        publish = {"action": "publish", "channel": channel, "data": {"ok": 1}, "id": "p"}
        await alice.send(json.dumps(publish))
        status, _ = await _post(
            http_url,
            json.dumps({"channel": channel, "data": "over http"}).encode(),
            {"Authorization": f"Bearer {_token('fuzz-backend', scope='publish')}"},
        )
        if status != 200:
            return f"POST /publish answered {status}"
        received = [_strict(await asyncio.wait_for(bob.recv(), REPLY_TIMEOUT)) for _ in range(2)]
        data = sorted(json.dumps(frame.get("data")) for frame in received)
        if data != sorted([json.dumps({"ok": 1}), json.dumps("over http")]):
            return f"the subscriber received {received}"
        return "ok"
    finally:
        await alice.close()
        await bob.close()


async def run(
    url: str,
    http_url: str,
    *,
    frames: int,
    connections: int,
    bodies: int,
    handshakes: int,
    seed: int,
) -> Report:
    """Fuzz a running gateway; ``report.tracebacks`` is left for the caller (it has the log)."""
    rng = random.Random(seed)
    report = Report()
    started = time.monotonic()
    planned = [hostile_frame(rng) for _ in range(frames)]
    await asyncio.gather(
        *(_drive(url, f"fuzz{n}", planned[n::connections], report) for n in range(connections))
    )
    await _bodies(http_url, bodies, rng, report)
    await _handshakes(url, handshakes, rng, report)
    report.afterwards = await _afterwards(url, http_url)
    report.elapsed = time.monotonic() - started
    return report


def count_tracebacks(lines: list[str]) -> int:
    """Tracebacks in the gateway's console (its own, and the functions' logs)."""
    return sum(line.count(TRACEBACK) for line in lines)


def _counts(counter: Counter[Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counter.most_common()) or "none"


def print_report(report: Report, args: argparse.Namespace) -> None:
    """The summary ``make fuzz`` prints."""
    print(
        f"make fuzz: seed {args.seed}, {args.frames} frames over {args.connections} "
        f"connections, {args.bodies} POST /publish bodies, {args.handshakes} hostile handshakes"
    )
    print(f"frames sent: {sum(report.frames.values())} ({_counts(report.frames)})")
    print(f"replies by code: {_counts(report.replies)}")
    print(
        f"  pushed frames between replies: {report.pushed}; frames without a reply: "
        f"{report.no_reply}; received frames not strict JSON: {report.unparseable}"
    )
    print(f"closes by code: {_counts(report.closes)} (unexpected: {report.unexpected_closes})")
    print(f"POST /publish by status: {_counts(report.bodies)}")
    for kind, statuses in sorted(report.body_kinds.items()):
        print(f"  {kind}: {_counts(statuses)}")
    print(f"handshakes by status: {_counts(report.handshakes)}")
    print(f"afterwards (subscribe, WebSocket and HTTP publish): {report.afterwards}")
    print(f"tracebacks in the gateway log: {report.tracebacks}")
    print(f"elapsed: {report.elapsed:.1f} s")
    failures = report.failures()
    print("result: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))


def main() -> None:
    """Start a gateway, fuzz it, print the report; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--bodies", type=int, default=500)
    parser.add_argument("--handshakes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    log: list[str] = []
    gateway = start_gateway(console=log.append)
    url = gateway.url
    try:
        report = asyncio.run(
            run(
                url,
                url.replace("ws://", "http://", 1),
                frames=args.frames,
                connections=args.connections,
                bodies=args.bodies,
                handshakes=args.handshakes,
                seed=args.seed,
            )
        )
    finally:
        gateway.stop()
    report.tracebacks = count_tracebacks(log)
    print_report(report, args)
    if report.tracebacks:
        print("first traceback in the gateway log:")
        first = next(i for i, line in enumerate(log) if TRACEBACK in line)
        print("".join(log[max(0, first - 2) : first + 20]))
    sys.exit(1 if report.failures() else 0)


if __name__ == "__main__":
    main()
