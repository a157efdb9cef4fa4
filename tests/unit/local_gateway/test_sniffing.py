"""Which request heads are WebSocket handshakes (:mod:`local_gateway.sniffing`)."""

from __future__ import annotations

import pytest

from local_gateway.sniffing import is_websocket_handshake


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade", True, id="ws"),
        pytest.param(b"GET /dev HTTP/1.1\r\nupgrade:  WebSocket", True, id="any-case"),
        pytest.param(b"POST / HTTP/1.1\r\nUpgrade: websocket", False, id="not-a-get"),
        pytest.param(b"GET / HTTP/1.1\r\nUpgrade: h2c", False, id="another-upgrade"),
        pytest.param(b"GET /@connections/x HTTP/1.1\r\nHost: a", False, id="plain-http"),
        pytest.param(b"", False, id="empty"),
    ],
)
def test_a_handshake_is_a_get_that_asks_to_upgrade_to_websocket(
    head: bytes, expected: bool
) -> None:
    assert is_websocket_handshake(head) is expected
