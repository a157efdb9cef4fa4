"""What goes into a multiplexed exchange and what comes out: requests, responses, errors."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Request", "Response", "TransportError"]


@dataclass(frozen=True)
class Request:
    """One request: ``key`` names it in the results (the connection id).

    A request that could not be built (its signing failed) carries the ``error`` instead,
    which is reported for its key without sending anything.
    """

    key: str
    method: str = "POST"
    target: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: Exception | None = None


@dataclass(frozen=True)
class Response:
    """A complete response's status and headers (names lower-cased); the body is read
    and dropped."""

    status: int
    headers: dict[str, str]


class TransportError(Exception):
    """A request ended without a response; ``code`` names why, as urllib3 would."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
