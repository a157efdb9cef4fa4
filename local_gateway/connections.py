"""The open WebSocket connections, as the gateway tracks them.

A :class:`LiveConnection` is what the Management API posts to, what the timeouts close and
what ``$disconnect`` reports on; it imports nothing of the gateway's, so the server, the
Management API and the fault injector all use it without importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from local_gateway import events

__all__ = ["LiveConnection", "close_status", "send_quietly"]


@dataclasses.dataclass(eq=False)
class LiveConnection:
    """An open WebSocket connection, as the gateway tracks it."""

    info: events.ConnectionInfo
    websocket: ServerConnection
    opened: float  # monotonic
    last_active: float  # monotonic
    close_cause: tuple[int, str] | None = None
    closing: asyncio.Task[None] | None = None

    def close(self, code: int, reason: str) -> None:
        """Start closing from the gateway's side; ``$disconnect`` reports ``code``."""
        if self.close_cause is None:
            self.close_cause = (code, reason)
            self.closing = asyncio.get_running_loop().create_task(
                self.websocket.close(code, reason)
            )


def close_status(live: LiveConnection) -> tuple[int, str]:
    """The code and reason that ``$disconnect`` reports."""
    if live.close_cause is not None:
        return live.close_cause
    protocol = live.websocket.protocol
    if protocol.close_sent is not None and not protocol.close_rcvd_then_sent:
        # The server side closed first: a message over the size limit, for instance.
        return int(protocol.close_sent.code), protocol.close_sent.reason
    if protocol.close_rcvd is not None:
        return int(protocol.close_rcvd.code), protocol.close_rcvd.reason
    return int(CloseCode.ABNORMAL_CLOSURE), "Connection closed abnormally"


async def send_quietly(live: LiveConnection, payload: Mapping[str, Any]) -> None:
    """Send ``payload`` as a JSON frame; a connection that closed meanwhile is not an error."""
    with contextlib.suppress(ConnectionClosed):
        await live.websocket.send(json.dumps(payload))
