"""In-memory twins for the library's unit tests: a Management API sender and a container.

The store is :class:`switchboard.memory_store.MemoryStore` (the library's own twin of the
DynamoDB store); the sender records every frame and answers 410 or throttles as told.
No moto, no sockets, no threads beyond the fan-out's.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

from switchboard.auth import TokenVerifier
from switchboard.config import Settings
from switchboard.container import Container
from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.fanout import PostMany
from switchboard.lifecycle import Handshake
from switchboard.memory_store import MemoryStore
from switchboard.storage import ConnectionRecord
from tests.conftest import SECRET, make_token

ENDPOINT = "https://abc123defg.execute-api.us-east-1.amazonaws.com/dev"


class FakeSender:
    """A :class:`~switchboard.sender.ManagementApi` that keeps what it was sent."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.throttled: dict[str, int] = {}  # connection id: how many posts to refuse
        self.closed: list[str] = []
        self.posts = 0
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> None:
        with self._lock:
            self.posts += 1
            if connection_id in self.gone:
                raise ConnectionGoneError(connection_id)
            if self.throttled.get(connection_id, 0) > 0:
                self.throttled[connection_id] -= 1
                raise DeliveryError(connection_id, "LimitExceededException", retryable=True)
            self.frames[connection_id].append(json.loads(data))

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

    def posts_in_flight(self) -> PostMany | None:
        return None

    def of_type(self, connection_id: str, kind: str) -> list[dict[str, Any]]:
        """The frames of one ``type`` a connection got."""
        return [f for f in self.frames[connection_id] if f.get("type") == kind]


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def make_container(
    *, sender: FakeSender | None = None, clock: Clock | None = None, **settings: Any
) -> tuple[Container, MemoryStore, FakeSender]:
    """A container of fakes: the memory store, ``sender``, no sleeping, HS256 tokens."""
    store = MemoryStore()
    out = sender or FakeSender()
    config = Settings(ws_secret=SECRET, management_endpoint=ENDPOINT, **settings)
    box = Container(
        settings=config,
        store=store,
        new_sender=lambda _settings, _endpoint: out,
        new_verifier=lambda _settings: lambda: TokenVerifier(secret=SECRET),
        on_publish=lambda _channel, _report: None,
        clock=clock or time.time,
        sleep=lambda _seconds: None,
    )
    return box, store, out


def handshake_of(box: Container, connection_id: str, user: str, **claims: Any) -> Handshake:
    """The handshake of ``connection_id`` with a token for ``user`` carrying ``claims``."""
    return Handshake(
        connection_id=connection_id,
        connected_at_ms=int(box.clock() * 1000),
        headers={},
        query={"token": make_token(user, **claims)},
    )


def open_connection(
    box: Container, connection_id: str, user: str = "alice", **claims: Any
) -> ConnectionRecord:
    """Connect ``connection_id`` through the ``$connect`` logic; its stored record."""
    result = box.connector().connect(handshake_of(box, connection_id, user, **claims))
    assert result.status == 200, result.reason
    record = box.store.get_connection(connection_id)
    assert record is not None
    return record
