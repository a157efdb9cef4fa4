"""POST /publish and POST /users/{userId}/messages through the real handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from functions.publish import app
from switchboard.publishing import publish
from tests.conftest import CONTEXT, ManagementApiFake, connect, load_event, make_token, send_frame
from tests.integration.test_recovery import frames, messages

ALICE, ALICE_2, BOB = "ALICExxxxxxxxx1=", "ALICExxxxxxxxx2=", "BOBxxxxxxxxxxxx="


def call(
    body: Any,
    *,
    token: str | None = None,
    key: str | None = None,
    event: str = "publish",
) -> tuple[int, dict[str, Any]]:
    request = load_event(event)
    headers = request["headers"]
    headers.pop("idempotency-key", None)
    headers.pop("authorization", None)
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if key is not None:
        headers["idempotency-key"] = key
    request["body"] = body if isinstance(body, str) else json.dumps(body)
    response = app.lambda_handler(request, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


SERVER = make_token("backend", ttl=3600, scope="publish")  # outlives the test run


@pytest.fixture
def subscribers(management: ManagementApiFake) -> ManagementApiFake:
    connect(ALICE, "alice")
    connect(BOB, "bob")
    send_frame(ALICE, {"action": "subscribe", "channel": "room:lobby"})
    send_frame(BOB, {"action": "subscribe", "channel": "room:lobby"})
    return management


def test_a_publish_reaches_every_subscriber(subscribers: ManagementApiFake) -> None:
    status, body = call({"channel": "room:lobby", "data": {"text": "shipped"}}, token=SERVER)
    assert status == 200
    assert body == {
        "channel": "room:lobby",
        "seq": 1,
        "epoch": body["epoch"],
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }
    for connection_id in (ALICE, BOB):
        [message] = messages(subscribers, connection_id)
        assert (message["data"], message["from"], message["seq"]) == (
            {"text": "shipped"},
            "backend",
            1,
        )


def test_the_same_idempotency_key_publishes_once(subscribers: ManagementApiFake) -> None:
    first = call({"channel": "room:lobby", "data": 1}, token=SERVER, key="order-7")
    again = call({"channel": "room:lobby", "data": 1}, token=SERVER, key="order-7")
    assert first == again
    assert first[1]["seq"] == 1
    assert len(messages(subscribers, ALICE)) == 1
    other = call({"channel": "room:lobby", "data": 1}, token=SERVER, key="order-8")
    assert other[1]["seq"] == 2
    reused = call({"channel": "room:lobby", "data": 2}, token=SERVER, key="order-7")
    assert reused[0] == 400
    assert "different request" in reused[1]["message"]
    assert len(messages(subscribers, ALICE)) == 2


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(lambda: None, 401, id="no-credential"),
        pytest.param(lambda: "not-a-jwt", 401, id="garbage"),
        pytest.param(
            lambda: make_token("backend", scope="publish", secret="x" * 40), 401, id="bad-signature"
        ),
        pytest.param(lambda: make_token("backend", ttl=-600, scope="publish"), 401, id="expired"),
        pytest.param(lambda: make_token("alice"), 403, id="browser-token"),
        pytest.param(lambda: make_token("alice", scope="read"), 403, id="other-scope"),
        pytest.param(lambda: make_token("backend", scope=["publish"]), 200, id="scope-list"),
    ],
)
def test_credentials(
    subscribers: ManagementApiFake, token: Callable[[], str | None], status: int
) -> None:
    code, body = call({"channel": "room:lobby", "data": 1}, token=token())
    assert code == status
    if status != 200:
        assert body["code"] in {"unauthorized", "forbidden"}
        assert messages(subscribers, ALICE) == []


def test_same_data_to_many_channels_and_batches(subscribers: ManagementApiFake) -> None:
    send_frame(ALICE, {"action": "subscribe", "channel": "room:other"})
    status, body = call({"channels": ["room:lobby", "room:other"], "data": "both"}, token=SERVER)
    assert status == 200
    assert [(r["channel"], r["seq"]) for r in body["results"]] == [
        ("room:lobby", 1),
        ("room:other", 1),
    ]
    status, body = call(
        {
            "messages": [
                {"channel": "room:lobby", "data": "a"},
                {"channel": "room:lobby", "data": "b"},
            ]
        },
        token=SERVER,
    )
    assert [r["seq"] for r in body["results"]] == [2, 3]
    assert [m["data"] for m in messages(subscribers, ALICE)] == ["both", "both", "a", "b"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param("nope", 400, "bad_request", id="not-json"),
        pytest.param([1], 400, "bad_request", id="not-object"),
        pytest.param({"channel": "room:lobby"}, 400, "bad_request", id="no-data"),
        pytest.param({"channel": "bad channel", "data": 1}, 400, "bad_request", id="bad-channel"),
        pytest.param({"channels": [], "data": 1}, 400, "bad_request", id="empty-channels"),
        pytest.param(
            {"messages": [{"channel": "a"}]}, 400, "bad_request", id="message-without-data"
        ),
        pytest.param({"channels": ["a"] * 101, "data": 1}, 400, "bad_request", id="batch-too-big"),
        pytest.param(
            {"channel": "a", "data": "x" * 140_000}, 413, "payload_too_large", id="too-large"
        ),
    ],
)
def test_bad_requests(subscribers: ManagementApiFake, body: Any, status: int, code: str) -> None:
    assert call(body, token=SERVER)[0] == status
    assert call(body, token=SERVER)[1]["code"] == code


def test_a_batch_with_one_message_too_large_publishes_none(
    subscribers: ManagementApiFake,
) -> None:
    batch = {
        "messages": [
            {"channel": "room:lobby", "data": "small"},
            {"channel": "room:lobby", "data": "x" * 131_000},
        ]
    }
    for _retry in range(2):  # the same key again: still refused, still nothing published
        status, body = call(batch, token=SERVER, key="batch-1")
        assert (status, body["code"]) == (413, "payload_too_large")
        assert messages(subscribers, ALICE) == []
    ok = call({"channel": "room:lobby", "data": "next"}, token=SERVER)[1]
    assert ok["seq"] == 1  # no seq was spent on the refused batch


def test_a_server_token_limited_to_some_channels(subscribers: ManagementApiFake) -> None:
    token = make_token("backend", scope="publish", channels=["news:*"])
    assert call({"channel": "room:lobby", "data": 1}, token=token)[0] == 403
    assert call({"channel": "news:today", "data": 1}, token=token)[0] == 200


def test_messages_to_every_connection_of_a_user(subscribers: ManagementApiFake) -> None:
    connect(ALICE_2, "alice")
    status, body = call({"data": {"notice": "export ready"}}, token=SERVER, event="user_message")
    assert status == 200
    assert body == {"user": "alice", "delivered": 2, "pruned": 0, "failed": 0}
    for connection_id in (ALICE, ALICE_2):
        direct = [f for f in frames(subscribers, connection_id) if f["type"] == "direct"]
        assert [(d["data"], d["from"]) for d in direct] == [({"notice": "export ready"}, "backend")]
    assert not [f for f in frames(subscribers, BOB) if f["type"] == "direct"]
    assert call({}, token=SERVER, event="user_message")[0] == 400


def test_the_layer_publish_function(subscribers: ManagementApiFake) -> None:
    result = publish("room:lobby", {"from": "a job"})
    assert (result.seq, result.report.delivered) == (1, 2)
    assert messages(subscribers, BOB)[0]["from"] == "server"


def test_a_retry_while_the_first_request_runs_gets_409(
    subscribers: ManagementApiFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard import server_publish

    real = server_publish.run_publish
    answers: list[tuple[int, dict[str, Any]]] = []

    def slow_publish(*args: Any) -> dict[str, Any]:
        # the client times out and retries while the first request is still running
        answers.append(call({"channel": "room:lobby", "data": 1}, token=SERVER, key="k-1"))
        return real(*args)

    monkeypatch.setattr(server_publish, "run_publish", slow_publish)
    first = call({"channel": "room:lobby", "data": 1}, token=SERVER, key="k-1")
    monkeypatch.setattr(server_publish, "run_publish", real)
    [(status, body)] = answers
    assert (status, body["code"]) == (409, "conflict")
    assert "retry" in body["message"]
    assert first[0] == 200
    assert call({"channel": "room:lobby", "data": 1}, token=SERVER, key="k-1") == first
    assert len(messages(subscribers, ALICE)) == 1


def test_an_unknown_route_is_404(subscribers: ManagementApiFake) -> None:
    request = load_event("publish")
    request["routeKey"] = "GET /publish"
    response = app.lambda_handler(request, CONTEXT)
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["code"] == "not_found"
    assert response["headers"]["Content-Type"] == "application/json"


def history(
    channel: str, query: dict[str, str] | None, token: str | None = SERVER
) -> tuple[int, dict[str, Any]]:
    request = load_event("channel_history")
    request["pathParameters"] = {"channel": channel}
    request["queryStringParameters"] = query
    request["headers"].pop("authorization", None)
    if token is not None:
        request["headers"]["authorization"] = f"Bearer {token}"
    response = app.lambda_handler(request, CONTEXT)
    return response["statusCode"], json.loads(response["body"])


def test_history_over_http_gives_the_position_and_pages(subscribers: ManagementApiFake) -> None:
    status, empty = history("room:lobby", {"limit": "0"})
    assert (status, empty["epoch"], empty["seq"], empty["messages"]) == (200, None, 0, [])
    for n in range(3):
        call({"channel": "room:lobby", "data": n}, token=SERVER)
    status, position = history("room:lobby", {"limit": "0"})
    assert (status, position["seq"], position["messages"]) == (200, 3, [])
    assert isinstance(position["epoch"], str)
    status, page = history("room:lobby", {"limit": "2"})
    assert [m["seq"] for m in page["messages"]] == [2, 3]
    assert page["next"] == 2  # page back with before=2
    status, older = history("room:lobby", {"limit": "2", "before": "2"})
    assert ([m["data"] for m in older["messages"]], older["next"]) == ([0], None)
    assert history("room%3Alobby", None)[1]["seq"] == 3  # an encoded path segment


@pytest.mark.parametrize(
    ("channel", "query", "token", "status"),
    [
        pytest.param("room:lobby", {"limit": "-1"}, lambda: SERVER, 400, id="negative"),
        pytest.param("room:lobby", {"limit": "101"}, lambda: SERVER, 400, id="over-the-max"),
        pytest.param("room:lobby", {"before": "x"}, lambda: SERVER, 400, id="not-a-number"),
        pytest.param("bad channel", None, lambda: SERVER, 400, id="bad-channel"),
        pytest.param("room:lobby", None, lambda: None, 401, id="no-credential"),
        pytest.param("room:lobby", None, lambda: make_token("alice"), 403, id="browser-token"),
    ],
)
def test_history_over_http_refuses_bad_requests(
    subscribers: ManagementApiFake,
    channel: str,
    query: dict[str, str] | None,
    token: Callable[[], str | None],
    status: int,
) -> None:
    assert history(channel, query, token())[0] == status
