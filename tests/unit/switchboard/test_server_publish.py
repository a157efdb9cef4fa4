"""The HTTP API's logic on the in-memory store: publish, batches, direct, history."""

from __future__ import annotations

import pytest

from switchboard import server_publish
from switchboard.auth import Identity
from switchboard.errors import BadRequestError, ForbiddenError
from tests.unit.switchboard.fakes import ENDPOINT, make_container, open_connection


def caller(channels: tuple[str, ...] | None = None) -> server_publish.Caller:
    identity = Identity(user_id="backend", capabilities=channels, expires_at=2_000_000_000)
    return server_publish.Caller(identity=identity, name="backend")


def test_a_batch_is_all_or_nothing() -> None:
    box, store, _sender = make_container()
    realtime = box.realtime(ENDPOINT)
    request = {"messages": [{"channel": "room:a", "data": 1}, {"channel": "secret", "data": 2}]}
    with pytest.raises(ForbiddenError):
        server_publish.run_publish(realtime, caller(("room:*",)), request)
    assert store.history == {}  # refused before the first was published
    answer = server_publish.run_publish(realtime, caller(), {"channels": ["a", "b"], "data": 3})
    assert [(r["channel"], r["seq"]) for r in answer["results"]] == [("a", 1), ("b", 1)]


def test_user_messages_and_history() -> None:
    box, _store, sender = make_container()
    realtime = box.realtime(ENDPOINT)
    open_connection(box, "A=", "alice")
    sent = server_publish.run_user_message(realtime, caller(), "alice", {"data": "hi"})
    assert sent == {"user": "alice", "delivered": 1, "pruned": 0, "failed": 0}
    assert sender.frames["A="][0]["type"] == "direct"
    with pytest.raises(BadRequestError):
        server_publish.run_user_message(realtime, caller(), "", {"data": "hi"})
    server_publish.run_publish(realtime, caller(), {"channel": "room:a", "data": 1})
    page = server_publish.read_history(realtime, caller(), "room:a", {"limit": "0"})
    assert (page["seq"], page["messages"]) == (1, [])
    with pytest.raises(BadRequestError):
        server_publish.read_history(realtime, caller(), "room:a", {"limit": "x"})


def test_the_bearer_credential_needs_the_publish_scope() -> None:
    from switchboard.auth import TokenVerifier
    from switchboard.errors import UnauthorizedError
    from tests.conftest import SECRET, make_token

    verifier = TokenVerifier(secret=SECRET)
    ok = server_publish.authorize(
        {"authorization": f"Bearer {make_token('backend', scope='publish other')}"}, verifier
    )
    assert ok.name == "backend"
    listed = {"Authorization": f"Bearer {make_token('b', scope=['publish'])}"}
    assert server_publish.authorize(listed, verifier).name == "b"
    with pytest.raises(ForbiddenError):
        server_publish.authorize({"authorization": f"Bearer {make_token('b')}"}, verifier)
    with pytest.raises(UnauthorizedError):
        server_publish.authorize({"authorization": "Basic abc"}, verifier)


@pytest.mark.parametrize(
    ("body", "encoded", "error"),
    [
        pytest.param("", False, "the body must be a JSON object", id="empty"),
        pytest.param("[1]", False, "the body must be a JSON object", id="array"),
        pytest.param("!!", True, "the body is not valid base64", id="base64"),
        pytest.param("{NaN}", False, "the body is not valid JSON", id="json"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_bad_requests(
    body: str, encoded: bool, error: str
) -> None:
    with pytest.raises(BadRequestError, match=error):
        server_publish.parse_json_body(server_publish.request_body(body, encoded))


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        pytest.param({"messages": []}, "'messages' must be a non-empty list", id="no-messages"),
        pytest.param({"messages": [{"channel": "a"}]}, "messages\\[0\\] needs", id="no-data"),
        pytest.param({"channels": "a", "data": 1}, "'channels' must be", id="channels"),
        pytest.param({"channels": ["a"]}, "'data' is required", id="channels-no-data"),
        pytest.param({"channel": "a"}, "'data' is required", id="one-no-data"),
        pytest.param({"channels": ["a"] * 101, "data": 1}, "at most 100", id="too-many"),
    ],
)
def test_malformed_publish_requests_are_refused(request_: dict, error: str) -> None:
    with pytest.raises(BadRequestError, match=error):
        server_publish.publish_items(request_)


def test_the_idempotency_key_is_checked() -> None:
    assert server_publish.idempotency_key({}) is None
    assert server_publish.idempotency_key({"Idempotency-Key": "k1"}) == "k1"
    with pytest.raises(BadRequestError):
        server_publish.idempotency_key({"idempotency-key": "k" * 257})
