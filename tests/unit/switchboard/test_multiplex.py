"""The multiplexer over real sockets: partial writes, broken servers, refused requests,
stopping early (one exchange's selector loop, :mod:`switchboard.multiplex.selector_loop`).

The engine-level outcomes (410, 429, TLS, timeouts, reuse) are in test_delivery.py; here
the transport itself is pushed where a fan-out to API Gateway can take it.
"""

from __future__ import annotations

import gc
import socket
import threading
import warnings
from collections.abc import Callable, Iterator

import pytest

from devtools.management_server import ManagementServer, ManagementState
from switchboard.multiplex import Multiplexer, Request, Response, TransportError


def _requests(keys: list[str], body: bytes, host: str) -> Iterator[Request]:
    for key in keys:
        headers = [("Host", host), ("Content-Length", str(len(body)))]
        yield Request(key, "POST", f"/dev/@connections/{key}", headers, body)


def test_bodies_larger_than_the_socket_buffer_go_out_in_pieces() -> None:
    """A send buffer of a few KB: every 100 KB body is written over many ready events."""
    body = bytes(range(256)) * 400
    small_buffer = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
        (socket.SOL_SOCKET, socket.SO_SNDBUF, 4096),
    ]
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, socket_options=small_buffer)
        keys = [f"k{n}" for n in range(8)]
        results = dict(mux.exchange(_requests(keys, body, "127.0.0.1"), 4))
        mux.close()
    assert all(isinstance(r, Response) and r.status == 200 for r in results.values())
    assert server.state.frames == {key: [body] for key in keys}


def _raw_server(reply: Callable[[socket.socket], None]) -> tuple[socket.socket, threading.Thread]:
    """A TCP server on 127.0.0.1 answering each connection with ``reply``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                client.recv(65536)
                reply(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda s: s.sendall(b"NOT HTTP AT ALL\r\n\r\n"), id="garbage"),
        pytest.param(lambda s: None, id="closed-without-answer"),
        pytest.param(
            lambda s: s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"),
            id="closed-mid-body",
        ),
    ],
)
def test_a_broken_answer_is_a_protocol_error_for_that_request(
    reply: Callable[[socket.socket], None],
) -> None:
    listener, thread = _raw_server(reply)
    port = listener.getsockname()[1]
    mux = Multiplexer("127.0.0.1", port, read_timeout=5)
    try:
        results = dict(mux.exchange(_requests(["a", "b", "c"], b"{}", "127.0.0.1"), 2))
    finally:
        mux.close()
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        listener.close()
        thread.join(5)
    assert not thread.is_alive()
    assert set(results) == {"a", "b", "c"}
    for result in results.values():
        assert isinstance(result, TransportError)
        assert result.code == "ProtocolError"


def test_a_request_h11_refuses_fails_alone_and_leaks_nothing() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port)
        good = list(_requests(["a", "c"], b"{}", "127.0.0.1"))
        bad = Request("b", "POST", "/dev/@connections/b", [("Host", "x\nInjected: 1")], b"")
        results = dict(mux.exchange(iter([good[0], bad, good[1]]), 1))
        mux.close()
    assert isinstance(results["a"], Response)
    assert isinstance(results["c"], Response)
    assert isinstance(results["b"], Exception)
    assert not isinstance(results["b"], Response)
    assert set(server.state.frames) == {"a", "c"}


def test_a_request_that_could_not_be_built_is_reported_without_sending() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port)
        failure = RuntimeError("credentials refresh failed")
        stream = [*_requests(["a"], b"{}", "127.0.0.1"), Request("b", error=failure)]
        results = dict(mux.exchange(iter(stream), 2))
        mux.close()
    assert results["b"] is failure
    assert isinstance(results["a"], Response)
    assert server.state.requests == 1


def test_stopping_early_leaves_no_socket_open() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, max_idle=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            results = mux.exchange(_requests([f"k{n}" for n in range(10)], b"{}", "127.0.0.1"), 4)
            next(results)
            results.close()
            del results
            gc.collect()
        mux.close()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
