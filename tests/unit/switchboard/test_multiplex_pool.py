"""The multiplexer's pool: idle connections kept up to a limit, closed ones dropped."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

from devtools.management_server import ManagementServer, ManagementState
from switchboard.multiplex import Multiplexer, Request, Response
from switchboard.multiplex.addresses import AddressCache
from switchboard.multiplex.connection import ConnectionState
from switchboard.multiplex.pool import ConnectionPool


def _requests(keys: list[str], body: bytes, host: str) -> Iterator[Request]:
    for key in keys:
        headers = [("Host", host), ("Content-Length", str(len(body)))]
        yield Request(key, "POST", f"/dev/@connections/{key}", headers, body)


def test_idle_connections_beyond_the_limit_are_closed() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port, max_idle=2)
        keys = [f"k{n}" for n in range(20)]
        results = dict(mux.exchange(_requests(keys, b"{}", "127.0.0.1"), 5))
        assert all(isinstance(r, Response) for r in results.values())
        assert len(mux.pool.idle) == 2
        opened = server.state.connections
        dict(mux.exchange(_requests(keys, b"{}", "127.0.0.1"), 2))
        assert server.state.connections == opened  # the two kept were enough
        mux.close()
        assert mux.pool.idle == []


def test_an_idle_connection_the_server_closed_is_dropped_when_taken() -> None:
    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port)
        dict(mux.exchange(_requests(["a"], b"{}", "127.0.0.1"), 1))
        (kept,) = mux.pool.idle
        assert kept.state is ConnectionState.IDLE
        server.drop_connections()
        readable, _, _ = select.select([kept.sock], [], [], 5)  # its EOF arrives
        assert readable == [kept.sock]
        assert mux.pool.take_idle() is None
        assert kept.state is ConnectionState.CLOSED
        assert mux.pool.idle == []


def test_a_connection_past_the_limit_is_closed_not_kept() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # it never accepts: no server
        pool = ConnectionPool(AddressCache("127.0.0.1", listener.getsockname()[1]), max_idle=0)
        connection = pool.open()
        pool.give_back(connection)
    assert pool.idle == []
    assert connection.state is ConnectionState.CLOSED
