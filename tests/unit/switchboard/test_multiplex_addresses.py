"""The multiplexer's DNS cache: one lookup a minute, a refusing address tried last."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.management_server import ManagementServer, ManagementState
from switchboard.multiplex import Multiplexer, Request, Response, TransportError
from switchboard.multiplex import addresses as addresses_module
from switchboard.multiplex.addresses import RESOLVE_EVERY_SECONDS, AddressCache


def _requests(keys: list[str], body: bytes, host: str) -> Iterator[Request]:
    for key in keys:
        headers = [("Host", host), ("Content-Length", str(len(body)))]
        yield Request(key, "POST", f"/dev/@connections/{key}", headers, body)


def _entry(port: int) -> tuple[Any, ...]:
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))


def test_the_lookup_is_kept_a_minute_then_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[tuple[str, int]] = []
    now = [1000.0]

    def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[Any, ...]]:
        lookups.append((host, port))
        return [_entry(port)]

    monkeypatch.setattr(addresses_module.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(addresses_module.time, "monotonic", lambda: now[0])
    cache = AddressCache("api.example", 443)
    assert cache.first() == _entry(443)
    now[0] += RESOLVE_EVERY_SECONDS - 0.001
    cache.first()
    assert lookups == [("api.example", 443)]
    now[0] += 0.001
    cache.first()
    assert lookups == [("api.example", 443), ("api.example", 443)]


def test_a_demoted_address_goes_last_and_a_lone_one_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = [[_entry(1), _entry(2), _entry(3)]]
    monkeypatch.setattr(addresses_module.socket, "getaddrinfo", lambda *_a, **_k: entries[0])
    cache = AddressCache("api.example", 443)
    cache.first()
    cache.demote(("127.0.0.1", 1))
    assert cache.first() == _entry(2)
    cache.demote(("127.0.0.1", 9))  # not one of them: nothing moves
    assert cache.first() == _entry(2)
    lone = AddressCache("lone.example", 443)
    entries[0] = [_entry(4)]
    lone.first()
    lone.demote(("127.0.0.1", 4))
    assert lone.first() == _entry(4)


def test_an_unresolvable_host_fails_each_request_and_the_round_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_dns(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr("switchboard.multiplex.addresses.socket.getaddrinfo", no_dns)
    mux = Multiplexer("no-such-host.invalid", 443)
    results = dict(mux.exchange(_requests(["a", "b"], b"{}", "no-such-host.invalid"), 2))
    assert {key: (type(r).__name__, getattr(r, "code", None)) for key, r in results.items()} == {
        "a": ("TransportError", "NewConnectionError"),
        "b": ("TransportError", "NewConnectionError"),
    }


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

        monkeypatch.setattr("switchboard.multiplex.addresses.socket.getaddrinfo", getaddrinfo)
        mux = Multiplexer("api.example", server.port)
        first = dict(mux.exchange(_requests(["a"], b"{}", "api.example"), 1))
        rest = dict(mux.exchange(_requests(["b", "c"], b"{}", "api.example"), 2))
        mux.close()
    failed = first["a"]
    assert isinstance(failed, TransportError)
    assert failed.code == "NewConnectionError"
    assert all(isinstance(r, Response) for r in rest.values())
    assert lookups == ["api.example"]
