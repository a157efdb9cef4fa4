"""Recovery, presence and server-side publish through the local gateway, with real clients:
``websockets`` sockets and plain HTTP requests, as a browser and a Next.js route would send."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import jwt
import pytest
from websockets.sync.client import ClientConnection, connect

from local_gateway.settings import DEFAULT_WS_SECRET
from local_gateway.token import sign_token
from tests.e2e.conftest import ROOT, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def switchboard(start_gateway: StartGateway) -> GatewayProcess:
    """The real application, as ``make dev`` serves it."""
    return start_gateway(template=ROOT / "template.yaml", extra_args=["--no-watch"])


def url(gateway: GatewayProcess, user: str) -> str:
    return f"{gateway.url}?token={sign_token(DEFAULT_WS_SECRET, user)}"


def request(websocket: ClientConnection, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Send a frame; the frames received up to and including its reply."""
    websocket.send(json.dumps(frame))
    received = []
    while True:
        reply = json.loads(websocket.recv(timeout=10))
        received.append(reply)
        if reply.get("id") == frame["id"] and reply["type"] in {"ack", "error", "pong"}:
            return received


def call(
    gateway: GatewayProcess, method: str, path: str, body: Any, headers: dict[str, str]
) -> tuple[int, Any]:
    """An HTTP request to the gateway's backend API: the status and the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{gateway.http_url}{path}", data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def post(gateway: GatewayProcess, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    return call(gateway, "POST", path, body, headers)


def get(gateway: GatewayProcess, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    return call(gateway, "GET", path, None, headers)


def test_a_reconnect_with_since_gets_exactly_the_missed_messages(
    switchboard: GatewayProcess,
) -> None:
    with connect(url(switchboard, "bob")) as bob:
        with connect(url(switchboard, "alice")) as alice:
            ack = request(alice, {"action": "subscribe", "channel": "room:resume", "id": "s"})[-1]
            last_seq = ack["seq"]
        for n in range(5):
            request(bob, {"action": "publish", "channel": "room:resume", "data": n, "id": f"p{n}"})
        with connect(url(switchboard, "alice")) as alice:
            frames = request(
                alice,
                {"action": "subscribe", "channel": "room:resume", "since": last_seq, "id": "r"},
            )
            assert [f["type"] for f in frames] == ["message"] * 5 + ["ack"]
            assert [f["data"] for f in frames[:5]] == [0, 1, 2, 3, 4]
            assert [f["seq"] for f in frames[:5]] == list(range(last_seq + 1, last_seq + 6))
            assert frames[-1]["recovered"] is True
            request(bob, {"action": "publish", "channel": "room:resume", "data": "live", "id": "l"})
            live = json.loads(alice.recv(timeout=10))
            assert (live["data"], live["seq"]) == ("live", last_seq + 6)


def test_a_rewind_gets_the_last_kept_messages_then_live(switchboard: GatewayProcess) -> None:
    with connect(url(switchboard, "bob")) as bob, connect(url(switchboard, "alice")) as alice:
        for n in range(2):
            request(bob, {"action": "publish", "channel": "room:rw-few", "data": n, "id": f"p{n}"})
        frames = request(
            alice, {"action": "subscribe", "channel": "room:rw-few", "rewind": 10, "id": "s"}
        )
        assert [(f["type"], f.get("data")) for f in frames] == [
            ("message", 0),
            ("message", 1),
            ("ack", None),
        ]
        assert (frames[-1]["seq"], frames[-1]["rewound"]) == (2, 2)
        for n in range(6):
            request(bob, {"action": "publish", "channel": "room:rw-more", "data": n, "id": f"q{n}"})
        frames = request(
            alice, {"action": "subscribe", "channel": "room:rw-more", "rewind": 4, "id": "t"}
        )
        assert [f.get("data") for f in frames[:4]] == [2, 3, 4, 5]
        assert (frames[-1]["type"], frames[-1]["seq"], frames[-1]["rewound"]) == ("ack", 6, 4)
        refused = request(
            alice,
            {"action": "subscribe", "channel": "room:rw-more", "rewind": 4, "since": 1, "id": "u"},
        )
        assert [(f["type"], f["code"]) for f in refused] == [("error", "bad_request")]
        request(bob, {"action": "publish", "channel": "room:rw-more", "data": "live", "id": "l"})
        live = json.loads(alice.recv(timeout=10))
        assert (live["data"], live["seq"]) == ("live", 7)


def test_publishes_racing_a_rewind_arrive_once_and_in_order(switchboard: GatewayProcess) -> None:
    channel, racing = "room:rw-race", 20
    with connect(url(switchboard, "bob")) as bob, connect(url(switchboard, "alice")) as alice:
        for n in range(5):
            request(bob, {"action": "publish", "channel": channel, "data": n, "id": f"p{n}"})
        acked: list[int] = []

        def publish_racing() -> None:
            for n in range(racing):
                frame = {"action": "publish", "channel": channel, "data": f"r{n}", "id": f"r{n}"}
                acked.append(request(bob, frame)[-1]["seq"])

        publisher = threading.Thread(target=publish_racing)
        publisher.start()
        try:
            frames = request(
                alice, {"action": "subscribe", "channel": channel, "rewind": 3, "id": "s"}
            )
        finally:
            publisher.join(timeout=60)
        assert not publisher.is_alive()
        assert acked == list(range(6, 6 + racing))
        ack = frames[-1]
        received = [f["seq"] for f in frames if f["type"] == "message"]
        # a live message may beat the ack (its seq is above the ack's); the rest were rewound
        rewound = [seq for seq in received if seq <= ack["seq"]]
        assert ack["rewound"] == len(rewound) >= 3
        assert rewound[-1] == ack["seq"]
        while received[-1] < acked[-1]:
            live = json.loads(alice.recv(timeout=10))
            assert live["type"] == "message"
            received.append(live["seq"])
        # the last 3 as the rewind read them, then every later one exactly once, in order
        assert received == list(range(received[0], acked[-1] + 1))
        assert 3 <= received[0] <= ack["seq"] - 2


def test_presence_join_once_for_two_tabs_and_leave_after_the_last(
    switchboard: GatewayProcess,
) -> None:
    channel = "presence-room:e2e"
    with (
        connect(url(switchboard, "watcher")) as watcher,
        connect(url(switchboard, "dana")) as tab1,
        connect(url(switchboard, "dana")) as tab2,
    ):
        request(watcher, {"action": "subscribe", "channel": channel, "id": "w"})
        request(tab1, {"action": "subscribe", "channel": channel, "id": "t1"})
        request(tab2, {"action": "subscribe", "channel": channel, "id": "t2"})
        members = request(watcher, {"action": "presence", "channel": channel, "id": "m"})
        presence_events = [
            (f["type"], f["user"]) for f in members if f["type"] in {"join", "leave"}
        ]
        assert presence_events.count(("join", "dana")) == 1
        assert sorted(m["user"] for m in members[-1]["members"]) == ["dana", "watcher"]
        tab1.close()
        tab2.close()
        leave = json.loads(watcher.recv(timeout=10))
        assert (leave["type"], leave["user"]) == ("leave", "dana")
        after = request(watcher, {"action": "presence", "channel": channel, "id": "m2"})[-1]
        assert [m["user"] for m in after["members"]] == ["watcher"]


def test_an_http_publish_reaches_subscribers_once_per_idempotency_key(
    switchboard: GatewayProcess,
) -> None:
    server = sign_token(DEFAULT_WS_SECRET, "backend", scope="publish")
    auth = {"Authorization": f"Bearer {server}", "Content-Type": "application/json"}
    with connect(url(switchboard, "erin")) as erin:
        request(erin, {"action": "subscribe", "channel": "room:http", "id": "s"})
        body = {"channel": "room:http", "data": {"order": 42}}
        status, first = post(switchboard, "/publish", body, {**auth, "Idempotency-Key": "o-42"})
        assert status == 200
        assert first["delivered"] == 1
        message = json.loads(erin.recv(timeout=10))
        assert (message["data"], message["from"], message["seq"]) == (
            {"order": 42},
            "backend",
            first["seq"],
        )
        status, again = post(switchboard, "/publish", body, {**auth, "Idempotency-Key": "o-42"})
        assert (status, again["seq"]) == (200, first["seq"])
        # nothing more arrives: a ping's pong is the next frame
        assert request(erin, {"action": "ping", "id": "k"})[0]["type"] == "pong"

        status, direct = post(switchboard, "/users/erin/messages", {"data": "hi"}, auth)
        assert (status, direct["delivered"]) == (200, 1)
        assert json.loads(erin.recv(timeout=10))["type"] == "direct"

    assert post(switchboard, "/publish", {"channel": "a", "data": 1}, {})[0] == 401
    browser = sign_token(DEFAULT_WS_SECRET, "erin")
    assert (
        post(
            switchboard,
            "/publish",
            {"channel": "a", "data": 1},
            {"Authorization": f"Bearer {browser}"},
        )[0]
        == 403
    )


def test_a_server_rendered_position_hands_the_client_exactly_what_came_after(
    switchboard: GatewayProcess,
) -> None:
    """The server-rendered hand-off: read the position over HTTP (limit=0), render, then
    the browser subscribes with that since/epoch and gets what was published meanwhile."""
    server = sign_token(DEFAULT_WS_SECRET, "backend", scope="publish")
    auth = {"Authorization": f"Bearer {server}", "Content-Type": "application/json"}
    channel = "room:ssr"
    for n in range(2):
        assert post(switchboard, "/publish", {"channel": channel, "data": n}, auth)[0] == 200
    status, position = get(switchboard, f"/channels/{channel}/history?limit=0", auth)
    assert (status, position["seq"], position["messages"]) == (200, 2, [])
    # published after the page was rendered, before the browser's socket is open
    assert post(switchboard, "/publish", {"channel": channel, "data": "late"}, auth)[0] == 200
    with connect(url(switchboard, "frank")) as frank:
        frames = request(
            frank,
            {
                "action": "subscribe",
                "channel": channel,
                "since": position["seq"],
                "epoch": position["epoch"],
                "id": "s",
            },
        )
    assert [(f["seq"], f["data"]) for f in frames if f["type"] == "message"] == [(3, "late")]
    assert frames[-1]["recovered"] is True
    status, page = get(switchboard, f"/channels/{channel}/history?limit=10", auth)
    assert [m["data"] for m in page["messages"]] == [0, 1, "late"]
    assert get(switchboard, f"/channels/{channel}/history", {})[0] == 401


def test_auth_widens_and_narrows_a_connection_without_reconnecting(
    switchboard: GatewayProcess,
) -> None:
    def token(user: str, *channels: str) -> str:
        return sign_token(DEFAULT_WS_SECRET, user, channels=list(channels), ttl=300)

    first = token("alice", "room:auth-a", "presence-auth")
    with (
        connect(f"{switchboard.url}?token={first}") as alice,
        connect(url(switchboard, "bob")) as bob,
    ):
        for channel in ("room:auth-a", "presence-auth"):
            assert (
                request(alice, {"action": "subscribe", "channel": channel, "id": "s"})[-1]["type"]
                == "ack"
            )
        request(bob, {"action": "subscribe", "channel": "presence-auth", "id": "b"})
        refused = request(alice, {"action": "subscribe", "channel": "room:auth-b", "id": "x"})
        assert [f["type"] for f in refused[:-1]] == ["join"]  # bob's, on the presence channel
        assert (refused[-1]["type"], refused[-1]["code"]) == ("error", "forbidden")
        # widening: room:auth-b, refused before, is allowed after; nothing ends
        wider = token("alice", "room:auth-a", "room:auth-b", "presence-auth")
        (ack,) = request(alice, {"action": "auth", "token": wider, "id": "w"})
        assert (ack["type"], ack["id"]) == ("ack", "w")
        assert ack["expiresAt"] == jwt.decode(wider, options={"verify_signature": False})["exp"]
        assert (
            request(alice, {"action": "subscribe", "channel": "room:auth-b", "id": "y"})[-1]["type"]
            == "ack"
        )
        # narrowing: the subscriptions no longer allowed end with `unsubscribed`, then the ack
        frames = request(
            alice, {"action": "auth", "token": token("alice", "room:auth-a"), "id": "n"}
        )
        assert frames[:-1] == [
            {"type": "unsubscribed", "channel": "presence-auth", "reason": "forbidden"},
            {"type": "unsubscribed", "channel": "room:auth-b", "reason": "forbidden"},
        ]
        assert frames[-1]["type"] == "ack"
        assert json.loads(bob.recv(timeout=10)) == {
            "type": "leave",
            "channel": "presence-auth",
            "user": "alice",
        }
        # the ended subscription gets nothing more; the kept one still does
        request(bob, {"action": "publish", "channel": "room:auth-b", "data": "gone", "id": "p1"})
        request(bob, {"action": "publish", "channel": "room:auth-a", "data": "kept", "id": "p2"})
        live = json.loads(alice.recv(timeout=10))
        assert (live["channel"], live["data"]) == ("room:auth-a", "kept")
        # another user's token, or a bad one: unauthorized, and nothing changed
        for bad in (token("bob", "room:*"), first[:-4] + "AAAA"):
            (error,) = request(alice, {"action": "auth", "token": bad, "id": "z"})
            assert (error["type"], error["code"]) == ("error", "unauthorized")
        still = request(alice, {"action": "subscribe", "channel": "room:auth-b", "id": "q"})
        assert [(f["type"], f["code"]) for f in still] == [("error", "forbidden")]


def test_a_subscribe_claim_delivers_before_any_client_frame_and_resumes_after_a_reconnect(
    switchboard: GatewayProcess,
) -> None:
    channel = "user:carol-claim"
    claims = {"sub": "carol", "channels": [channel], "subscribe": [channel]}

    def carol_url() -> str:
        now = int(time.time())
        token = jwt.encode({**claims, "iat": now, "exp": now + 300}, DEFAULT_WS_SECRET)
        return f"{switchboard.url}?token={token}"

    with connect(url(switchboard, "bob")) as bob:
        with connect(carol_url()) as carol:
            # carol sends nothing: the $connect subscribed her
            first = request(bob, {"action": "publish", "channel": channel, "data": 1, "id": "p1"})
            assert first[-1]["delivered"] == 1
            message = json.loads(carol.recv(timeout=10))
            assert (message["type"], message["channel"], message["data"]) == ("message", channel, 1)
            seen, epoch = message["seq"], message["epoch"]
        for n in (2, 3):  # while carol is away
            request(bob, {"action": "publish", "channel": channel, "data": n, "id": f"p{n}"})
        with connect(carol_url()) as carol:
            # subscribed again by the claim; a subscribe with since replays what she missed
            frames = request(
                carol,
                {
                    "action": "subscribe",
                    "channel": channel,
                    "since": seen,
                    "epoch": epoch,
                    "id": "r",
                },
            )
            assert [(f["type"], f.get("data")) for f in frames] == [
                ("message", 2),
                ("message", 3),
                ("ack", None),
            ]
            assert frames[-1]["recovered"] is True
            request(bob, {"action": "publish", "channel": channel, "data": 4, "id": "p4"})
            live = json.loads(carol.recv(timeout=10))
            assert (live["data"], live["seq"]) == (
                4,
                seen + 3,
            )  # once: the resubscribe did not double it
            (pong,) = request(carol, {"action": "ping", "id": "k"})
            assert pong["type"] == "pong"
