"""One multiplexer connection's state machine: the transition table, and the states a real
exchange walks through."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devtools.management_server import ManagementServer, ManagementState
from switchboard.multiplex import Multiplexer, Request, Response
from switchboard.multiplex.connection import (
    TRANSITIONS,
    Connection,
    ConnectionState,
    InvalidTransition,
)

S = ConnectionState


def _requests(keys: list[str], host: str) -> Iterator[Request]:
    for key in keys:
        headers = [("Host", host), ("Content-Length", "2")]
        yield Request(key, "POST", f"/dev/@connections/{key}", headers, b"{}")


@pytest.fixture
def connection() -> Iterator[Connection]:
    left, right = socket.socketpair()
    yield Connection(left)
    left.close()
    right.close()


def test_every_state_has_a_row_and_closed_ends_it() -> None:
    assert set(TRANSITIONS) == set(ConnectionState)
    assert TRANSITIONS[S.CLOSED] == frozenset()
    assert all(S.CLOSED in TRANSITIONS[state] for state in ConnectionState if state is not S.CLOSED)


def test_every_state_is_reachable_from_connecting() -> None:
    seen, todo = {S.CONNECTING}, [S.CONNECTING]
    while todo:
        for state in TRANSITIONS[todo.pop()] - seen:
            seen.add(state)
            todo.append(state)
    assert seen == set(ConnectionState)


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        pytest.param([S.SENDING], S.IDLE, id="idle-before-an-answer"),
        pytest.param([S.SENDING, S.RECEIVING], S.SENDING, id="send-while-receiving"),
        pytest.param([S.HANDSHAKING], S.RECEIVING, id="receive-before-tls"),
        pytest.param([S.CLOSED], S.SENDING, id="reuse-after-close"),
        pytest.param([S.SENDING, S.RECEIVING, S.IDLE], S.HANDSHAKING, id="tls-on-a-kept-one"),
    ],
)
def test_a_move_the_table_refuses_raises(
    connection: Connection, path: list[ConnectionState], refused: ConnectionState
) -> None:
    for state in path:
        connection.move(state)
    with pytest.raises(InvalidTransition, match=f"{path[-1].name} -> {refused.name}"):
        connection.move(refused)
    assert connection.state is path[-1]


def test_closing_twice_closes_once(connection: Connection) -> None:
    connection.close()
    connection.close()
    assert connection.state is S.CLOSED
    assert connection.sock.fileno() == -1


def test_a_request_given_to_a_kept_connection_sends_it(connection: Connection) -> None:
    connection.move(S.SENDING)
    connection.move(S.RECEIVING)
    connection.move(S.IDLE)
    connection.begin(Request("a", target="/x", headers=[("Host", "h")]), 10.0, 3.0, 5.0)
    assert connection.state is S.SENDING
    assert connection.deadline == 15.0  # the read timeout: it is open
    assert connection.out.startswith(b"POST /x HTTP/1.1\r\n")


def test_a_request_given_while_connecting_waits_for_the_connect(connection: Connection) -> None:
    connection.begin(Request("a", target="/x", headers=[("Host", "h")]), 10.0, 3.0, 5.0)
    assert connection.state is S.CONNECTING
    assert connection.deadline == 13.0  # the connect timeout


def test_an_exchange_walks_connecting_sending_receiving_idle() -> None:
    walked: list[ConnectionState] = []
    move = Connection.move

    def recording(self: Connection, state: ConnectionState) -> None:
        move(self, state)
        walked.append(state)

    with ManagementServer(ManagementState()) as server:
        mux = Multiplexer("127.0.0.1", server.port)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Connection, "move", recording)
            results = dict(mux.exchange(_requests(["a", "b"], "127.0.0.1"), 1))
            mux.close()
    assert all(isinstance(r, Response) for r in results.values())
    # one connection, reused for "b", closed by close(); no TLS on plain TCP
    assert walked == [S.SENDING, S.RECEIVING, S.IDLE, S.SENDING, S.RECEIVING, S.IDLE, S.CLOSED]
