"""The multiplexer over real sockets: partial writes, broken servers, connection limits.

The engine-level outcomes (410, 429, TLS, timeouts, reuse) are in test_delivery.py; here
the transport itself is pushed where a fan-out to API Gateway can take it.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
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


def test_an_unresolvable_host_fails_each_request_and_the_round_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_dns(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr("switchboard.multiplex.socket.getaddrinfo", no_dns)
    mux = Multiplexer("no-such-host.invalid", 443)
    results = dict(mux.exchange(_requests(["a", "b"], b"{}", "no-such-host.invalid"), 2))
    assert {key: (type(r).__name__, getattr(r, "code", None)) for key, r in results.items()} == {
        "a": ("TransportError", "NewConnectionError"),
        "b": ("TransportError", "NewConnectionError"),
    }


def test_idle_connections_beyond_the_limit_are_closed() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, max_idle=2)
        keys = [f"k{n}" for n in range(20)]
        results = dict(mux.exchange(_requests(keys, b"{}", "127.0.0.1"), 5))
        assert all(isinstance(r, Response) for r in results.values())
        assert len(mux._idle) == 2
        opened = server.state.connections
        dict(mux.exchange(_requests(keys, b"{}", "127.0.0.1"), 2))
        assert server.state.connections == opened  # the two kept were enough
        mux.close()
        assert mux._idle == []


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


def test_a_paced_round_keeps_reading_while_it_holds_requests_back() -> None:
    """20 posts a second with a 0.3 s read timeout: the posts wait for their slots while
    the answers already sent are read, so none times out."""
    slots = iter(range(100))
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, read_timeout=0.3)
        started = time.monotonic()
        keys = [f"k{n}" for n in range(8)]
        results = dict(
            mux.exchange(
                _requests(keys, b"{}", "127.0.0.1"),
                8,
                pace=lambda: max(0.0, next(slots) * 0.05 - (time.monotonic() - started)),
            )
        )
        elapsed = time.monotonic() - started
        mux.close()
    assert all(isinstance(r, Response) for r in results.values()), results
    assert elapsed >= 0.3  # the eighth slot is 0.35 s after the first


def test_the_host_is_resolved_once_and_an_address_that_refuses_goes_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there any more
    lookups: list[str] = []
    with ManagementServer(ManagementState()) as server:
        entries = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
            for port in (dead_port, server.port)
        ]

        def getaddrinfo(host: str, *_: object, **__: object) -> list[tuple[object, ...]]:
            lookups.append(host)
            return list(entries)

        monkeypatch.setattr("switchboard.multiplex.socket.getaddrinfo", getaddrinfo)
        mux = Multiplexer("api.example", server.port)
        first = dict(mux.exchange(_requests(["a"], b"{}", "api.example"), 1))
        rest = dict(mux.exchange(_requests(["b", "c"], b"{}", "api.example"), 2))
        mux.close()
    failed = first["a"]
    assert isinstance(failed, TransportError)
    assert failed.code == "NewConnectionError"
    assert all(isinstance(r, Response) for r in rest.values())
    assert lookups == ["api.example"]
