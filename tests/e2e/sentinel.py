"""Exactly once, without waiting for silence: publish a sentinel after the message, read up
to it, and nothing else may have arrived in between."""

from __future__ import annotations

import json
import time
from typing import Any

SENTINEL = {"sentinel": True}


def frames_before_sentinel(client: Any, channel: str, timeout: float = 15.0) -> list[Any]:
    """Every frame ``client`` receives before the sentinel message (``data: {"sentinel":
    true}`` on ``channel``), and the sentinel last: publishing a sentinel after a message
    and reading up to it shows that nothing else arrived in between, without waiting for
    silence."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(client.recv(timeout=max(0.0, deadline - time.monotonic())))
        frames.append(frame)
        if (frame.get("type"), frame.get("channel"), frame.get("data")) == (
            "message",
            channel,
            SENTINEL,
        ):
            return frames
