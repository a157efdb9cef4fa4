"""The gateway's console: one line per event, and the functions' own output.

A line reads ``20:03:11.482 MESSAGE    L0SM9cOFvHcCIhw= subscribe -> DefaultFunction 200 8ms``.
Function output (Powertools' JSON logs, prints) follows, prefixed with the function's name.
The event's contents (tokens, bodies) are never written here.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import TextIO

__all__ = ["EventLog"]


class EventLog:
    """Writes event lines and function output to one stream."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        functions: bool = True,
        verbose: bool = False,
        compact: bool = True,
    ) -> None:
        self.stream = stream or sys.stdout
        self.compact = compact
        self.functions = functions
        self.verbose = verbose

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        """A line as is (the banner)."""
        self._write(text)

    def event(
        self,
        kind: str,
        subject: str,
        detail: str,
        status: int | str,
        millis: float | None = None,
    ) -> None:
        """One event: its kind, connection id (or path), what ran, the outcome and time."""
        now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
        took = f" {millis:.0f}ms" if millis is not None else ""
        self._write(f"{now} {kind:<10} {subject:<16} {detail} {status}{took}")

    def detail(self, kind: str, subject: str, detail: str, status: int | str) -> None:
        """An event shown only with ``--verbose`` (each @connections call, for instance)."""
        if self.verbose:
            self.event(kind, subject, detail, status)

    def function_output(self, function: str, text: str) -> None:
        """A line that a function printed (Powertools' JSON lines shown compactly)."""
        if self.functions:
            self._write(f"  {function} | {compact(text) if self.compact else text}")


# Keys of a Powertools log line that are the same on every line of a function.
_CONSTANT_KEYS = {
    "level",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "location",
    "xray_trace_id",
    "sampling_rate",
}


def compact(text: str) -> str:
    """``{"level":"INFO","message":"connected","user_id":"alice",...}`` -> ``INFO connected
    user_id=alice``; any other line unchanged."""
    if not text.startswith("{"):
        return text
    try:
        record = json.loads(text)
    except ValueError:
        return text
    if not isinstance(record, dict) or "level" not in record or "message" not in record:
        return text
    extra = " ".join(
        f"{key}={json.dumps(value) if not isinstance(value, str) else value}"
        for key, value in record.items()
        if key not in _CONSTANT_KEYS
    )
    return f"{record['level']} {record['message']} {extra}".rstrip()
