"""Fault injection: AWS's failure modes on purpose, at given rates. Every fault is off by default.

One setting, ``FAULTS`` (or ``--faults``): comma-separated ``name=value`` pairs. Rates are
probabilities from 0 to 1, drawn per event from one seeded random source:

==================  ==========================================================================
``post_429``        an ``@connections`` POST answers 429 ``LimitExceededException``
``post_500``        ... answers 500 ``InternalServerErrorException``
``post_410``        the client's socket drops at that moment (as a network does: no close
                    frame, ``$disconnect`` reports 1006) and the POST answers 410 ``GoneException``
``post_slow``       ... is answered ``post_delay`` seconds late (default 0.5), then normally
``dynamodb_throttle`` a DynamoDB call answers 400 ``ProvisionedThroughputExceededException``
``dynamodb_error``  ... answers 500 ``InternalServerError`` (both retried by botocore)
``kill``            an invocation's worker process is killed (SIGKILL) a random moment within
                    ``kill_within`` seconds (default 0.05) of receiving its event:
                    ``Runtime.ExitError``, as when a Lambda container dies mid-way
``timeout``         an invocation's worker is frozen (SIGSTOP) at such a moment: it runs past
                    the function's ``Timeout`` from the template and is killed then
                    (``Sandbox.Timedout``), as Lambda ends it
``sqs_redeliver``   after an SQS batch's invocation, a random non-empty subset of the records
                    it completed is not deleted: they come back after the visibility timeout
                    (a partial failure, or a delete lost as the visibility timeout expired)
``ack_lost``        a count, not a rate: the first N ``ack`` frames of a publish (an ``ack``
                    with a ``seq``) are lost as ``post_410`` loses a POST (the client's socket
                    drops, no close frame): the publish happened, its sender never hears it
``functions``       ``kill``/``timeout`` only for these functions (``A|B``; default: every one)
``seed``            the random source's seed (default: random)
==================  ==========================================================================

DynamoDB faults apply to the embedded endpoint only (a WSGI layer in front of moto), so the
handlers' own botocore/pynamodb retries run; SQS calls on the same endpoint are never faulted.
:class:`Faults` counts what it injected (:meth:`Faults.summary`) and can be switched off at
run time (:attr:`Faults.active`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import signal
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from local_gateway.connections import LiveConnection

__all__ = ["FaultError", "FaultSettings", "Faults", "parse_faults"]

ENV_FAULTS = "FAULTS"

RATES = (
    "post_429",
    "post_500",
    "post_410",
    "post_slow",
    "dynamodb_throttle",
    "dynamodb_error",
    "kill",
    "timeout",
    "sqs_redeliver",
)
SECONDS = ("post_delay", "kill_within")
COUNTS = ("ack_lost",)

# (status, x-amzn-ErrorType) of an @connections POST fault.
POST_ERRORS = {
    "post_429": (429, "LimitExceededException"),
    "post_500": (500, "InternalServerErrorException"),
    "post_410": (410, "GoneException"),
}
# DynamoDB's own error shapes (botocore's dynamodb service model names both).
DYNAMODB_ERRORS = {
    "dynamodb_throttle": ("400 Bad Request", "ProvisionedThroughputExceededException"),
    "dynamodb_error": ("500 Internal Server Error", "InternalServerError"),
}
DYNAMODB_TARGET = "DynamoDB_20120810."

T = TypeVar("T")


class FaultError(ValueError):
    """A ``FAULTS`` value that cannot be read."""


@dataclasses.dataclass(frozen=True)
class FaultSettings:
    """Which faults to inject, and how often (all zero: none)."""

    post_429: float = 0.0
    post_500: float = 0.0
    post_410: float = 0.0
    post_slow: float = 0.0
    post_delay: float = 0.5
    dynamodb_throttle: float = 0.0
    dynamodb_error: float = 0.0
    kill: float = 0.0
    kill_within: float = 0.05
    timeout: float = 0.0
    sqs_redeliver: float = 0.0
    ack_lost: int = 0
    functions: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def enabled(self) -> bool:
        """Whether any fault has a rate above zero."""
        return any(getattr(self, name) > 0 for name in (*RATES, *COUNTS))

    def describe(self) -> str:
        """The faults that are on, as ``FAULTS`` would write them."""
        shown = [
            f"{name}={getattr(self, name):g}"
            for name in (*RATES, *COUNTS)
            if getattr(self, name) > 0
        ]
        if self.functions:
            shown.append("functions=" + "|".join(self.functions))
        return ",".join(shown)


def parse_faults(text: str) -> FaultSettings:
    """``name=value,...`` (the ``FAULTS`` syntax) as settings; :exc:`FaultError` if invalid."""
    values: dict[str, Any] = {}
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        name, equals, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not equals:
            raise FaultError(f"FAULTS: {item!r} is not name=value")
        if name in values:
            raise FaultError(f"FAULTS: {name} is given twice")
        values[name] = _value(name, raw)
    return FaultSettings(**values)


def _value(name: str, raw: str) -> Any:
    if name == "functions":
        names = tuple(part.strip() for part in raw.split("|") if part.strip())
        if not names:
            raise FaultError("FAULTS: functions needs at least one function name")
        return names
    if name in ("seed", *COUNTS):
        try:
            number = int(raw)
        except ValueError:
            raise FaultError(f"FAULTS: {name} must be an integer, got {raw!r}") from None
        if name in COUNTS and number < 0:
            raise FaultError(f"FAULTS: {name} must be a count >= 0, got {raw!r}")
        return number
    if name not in RATES and name not in SECONDS:
        known = ", ".join((*RATES, *SECONDS, *COUNTS, "functions", "seed"))
        raise FaultError(f"FAULTS: unknown fault {name!r} (known: {known})")
    try:
        value = float(raw)
    except ValueError:
        raise FaultError(f"FAULTS: {name} must be a number, got {raw!r}") from None
    if not value >= 0 or value == float("inf") or (name in RATES and value > 1):
        bound = "0 to 1" if name in RATES else "a finite number of seconds >= 0"
        raise FaultError(f"FAULTS: {name} must be {bound}, got {raw!r}")
    return value


class _Armed:
    """A kill or freeze scheduled for one invocation; cancelled when it answers first."""

    def __init__(self, handle: asyncio.TimerHandle | None = None) -> None:
        self.handle = handle

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class Faults:
    """Decides, counts and injects the faults of :class:`FaultSettings`."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.settings = settings or FaultSettings()
        self.active = self.settings.enabled
        self._random = random.Random(self.settings.seed)  # noqa: S311 - not for secrets
        self.counts: Counter[str] = Counter()
        self.posts = 0  # @connections POSTs seen while active
        self.redelivered_records = 0
        self.acks_to_lose = self.settings.ack_lost

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    def _first(self, names: Sequence[str]) -> str | None:
        """One draw across ``names``' rates: the fault that happens, or None."""
        roll = self._random.random()
        for name in names:
            rate: float = getattr(self.settings, name)
            if roll < rate:
                return name
            roll -= rate
        return None

    @property
    def injected(self) -> int:
        """How many faults were injected so far."""
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        """The counts, and how many ``@connections`` POSTs there were."""
        return {
            "posts": self.posts,
            "injected": self.injected,
            "faults": dict(self.counts),
            "redelivered_records": self.redelivered_records,
        }

    # ------------------------------------------------------------ @connections

    async def before_post(self, live: LiveConnection, body: bytes = b"") -> tuple[int, str] | None:
        """Run before a POST of ``body`` to ``live`` is sent: the (status, error type) to
        answer, or None to go on (possibly after a delay)."""
        if not self.active:
            return None
        self.posts += 1
        fault = "ack_lost" if self._loses_ack(body) else None
        fault = fault or self._first(("post_429", "post_500", "post_410", "post_slow"))
        if fault is None:
            return None
        self.counts[fault] += 1
        if fault == "post_slow":
            await asyncio.sleep(self.settings.post_delay)
            return None
        if fault in ("post_410", "ack_lost"):
            live.websocket.transport.abort()  # the network drops it: no close frame
        return POST_ERRORS["post_410" if fault == "ack_lost" else fault]

    def _loses_ack(self, body: bytes) -> bool:
        """Whether this POST is a publish's ``ack`` and acks are still to be lost."""
        if self.acks_to_lose <= 0 or b'"ack"' not in body:
            return False
        try:
            frame = json.loads(body)
        except ValueError:
            return False
        # a subscribe's ack has a seq too; only a publish's counts its deliveries
        if not (isinstance(frame, dict) and frame.get("type") == "ack" and "delivered" in frame):
            return False
        self.acks_to_lose -= 1
        return True

    # ------------------------------------------------------------ DynamoDB

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """``app`` (moto's WSGI application) answering some DynamoDB calls with an error."""

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            fault = None
            if self.active and target.startswith(DYNAMODB_TARGET):
                fault = self._first(("dynamodb_throttle", "dynamodb_error"))
            if fault is None:
                return app(environ, start_response)
            self.counts[fault] += 1
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                environ["wsgi.input"].read(length)  # keep the client's connection in step
            status, error = DYNAMODB_ERRORS[fault]
            body = json.dumps(
                {
                    "__type": f"com.amazonaws.dynamodb.v20120810#{error}",
                    "message": f"injected fault ({fault})",
                }
            ).encode()
            headers = [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("Content-Length", str(len(body))),
            ]
            start_response(status, headers)
            return [body]

        return application

    # ------------------------------------------------------------ invocations

    def arm(self, pid: int, function: str) -> _Armed:
        """Maybe schedule a kill or a freeze of worker ``pid``, which just got an event."""
        if not self.active or (self.settings.functions and function not in self.settings.functions):
            return _Armed()
        fault = self._first(("kill", "timeout"))
        if fault is None:
            return _Armed()
        signum = signal.SIGKILL if fault == "kill" else signal.SIGSTOP
        delay = self._random.uniform(0, self.settings.kill_within)

        def strike() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
                self.counts[fault] += 1

        return _Armed(asyncio.get_running_loop().call_later(delay, strike))

    # ------------------------------------------------------------ SQS

    def deletable(self, records: list[T]) -> list[T]:
        """The records of a completed batch to delete; the others are redelivered later."""
        if not records or not self.active or not self._draw(self.settings.sqs_redeliver):
            return records
        kept = set(self._random.sample(range(len(records)), self._random.randint(1, len(records))))
        self.counts["sqs_redeliver"] += 1
        self.redelivered_records += len(kept)
        return [record for n, record in enumerate(records) if n not in kept]


def from_environment(environ: Mapping[str, str] | None = None) -> FaultSettings | None:
    """``FAULTS`` from the environment, when set."""
    text = (environ if environ is not None else os.environ).get(ENV_FAULTS)
    return parse_faults(text) if text else None
