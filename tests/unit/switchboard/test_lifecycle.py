"""The ``$connect`` handshake on the in-memory store: accepted, refused, misconfigured."""

from __future__ import annotations

from switchboard.errors import ConfigurationError, Refusal
from switchboard.lifecycle import Handshake
from tests.conftest import make_token
from tests.unit.switchboard.fakes import make_container


def handshake(token: str | None, **query: str) -> Handshake:
    params = {"token": token} if token is not None else {}
    return Handshake(
        connection_id="A=", connected_at_ms=1_000, headers={}, query={**params, **query}
    )


def test_an_accepted_handshake_stores_the_connection_with_its_lifetime() -> None:
    box, store, _sender = make_container()
    result = box.connector().connect(handshake(make_token("alice", channels=["room:*"])))
    assert (result.status, result.refusal) == (200, None)
    record = store.get_connection("A=")
    assert record is not None
    assert (record.user_id, record.capabilities, record.expires_at) == (
        "alice",
        ("room:*",),
        1 + 7200 + 600,
    )


def test_a_replayed_single_use_token_is_refused_403() -> None:
    box, _store, _sender = make_container()
    token = make_token("alice", jti="once")
    assert box.connector().connect(handshake(token)).status == 200
    again = box.connector().connect(handshake(token))
    assert (again.status, again.reason, again.refusal) == (
        403,
        "token already used",
        Refusal.REPLAYED,
    )


def test_a_missing_token_is_401_and_stores_nothing() -> None:
    box, store, _sender = make_container()
    result = box.connector().connect(handshake(None))
    assert (result.status, result.refusal) == (401, Refusal.MISSING_TOKEN)
    assert store.connections == {}


def test_a_misconfigured_secret_is_a_500_saying_misconfigured() -> None:
    box, _store, _sender = make_container()

    def misconfigured() -> None:
        raise ConfigurationError("the token secret must be at least 32 bytes long")

    box.new_verifier = lambda _settings: misconfigured  # type: ignore[assignment,return-value]
    result = box.connector().connect(handshake(make_token("alice")))
    assert (result.status, result.reason, result.refusal) == (
        500,
        "Internal Server Error",
        Refusal.MISCONFIGURED,
    )
    assert result.as_response() == {"statusCode": 500, "body": "Internal Server Error"}


def test_a_bug_is_a_plain_500() -> None:
    box, store, _sender = make_container()
    store.put_connection = None  # type: ignore[assignment,method-assign]
    result = box.connector().connect(handshake(make_token("alice")))
    assert (result.status, result.refusal) == (500, None)
