"""Route selection (:mod:`local_gateway.routing`): the WebSocket expression and HTTP API routes."""

from __future__ import annotations

import pytest

from local_gateway.routing import HttpRouter, select_websocket_route
from local_gateway.template import HttpRoute


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param('{"action": "join"}', "join", id="route"),
        pytest.param('{"action": "other"}', "$default", id="no-such-route"),
        pytest.param('{"action": "$connect"}', "$default", id="reserved-key"),
        pytest.param("not json", "$default", id="not-json"),
        pytest.param('{"action": 3}', "$default", id="not-a-string"),
        pytest.param('["join"]', "$default", id="not-an-object"),
    ],
)
def test_route_selection(body: str, expected: str) -> None:
    routes = {"$connect", "$default", "join"}
    assert select_websocket_route("$request.body.action", body, routes) == expected


def test_route_selection_without_default_finds_nothing() -> None:
    assert select_websocket_route("$request.body.action", "{}", {"join"}) is None
    nested = '{"meta": {"kind": "join"}}'
    assert select_websocket_route("$request.body.meta.kind", nested, {"join"}) == "join"


def test_http_routes_prefer_the_most_specific() -> None:
    router = HttpRouter(
        [
            HttpRoute("Default", "ANY", "$default"),
            HttpRoute("Proxy", "ANY", "/files/{path+}"),
            HttpRoute("Param", "GET", "/files/{name}"),
            HttpRoute("Exact", "GET", "/files/readme"),
        ]
    )

    def pick(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        found = router.match(method, path)
        return None if found is None else (found[0].function, found[1])

    assert pick("GET", "/files/readme") == ("Exact", {})
    assert pick("GET", "/files/a.txt") == ("Param", {"name": "a.txt"})
    assert pick("POST", "/files/a.txt") == ("Proxy", {"path": "a.txt"})
    assert pick("GET", "/files/a/b") == ("Proxy", {"path": "a/b"})
    assert pick("DELETE", "/elsewhere") == ("Default", {})


def test_route_selection_survives_any_nesting() -> None:
    """A body nested 100,000 levels deep is not JSON that routes: it goes to $default."""
    deep = '{"action":"join","x":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert select_websocket_route("$request.body.action", deep, {"join", "$default"}) == "$default"
