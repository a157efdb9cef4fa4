"""Route selection, as API Gateway does it (plain values in, route keys out).

- WebSocket: the route selection expression (``$request.body.action``) picks a route key from
  the JSON body of a message; a body that is not JSON (or nests too deep), a missing key,
  or a key with no route falls back to ``$default``.
- HTTP API: the most specific route wins: exact paths before ``{param}`` paths before
  greedy ``{proxy+}`` paths, a method before ``ANY``, and ``$default`` last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any

from local_gateway.template import HttpRoute

__all__ = ["HttpRouter", "select_websocket_route"]

_BODY_EXPRESSION = re.compile(r"^\$\{?request\.body\.([A-Za-z0-9_.$-]+)\}?$")


def select_websocket_route(expression: str, body: str, routes: Collection[str]) -> str | None:
    """The route key for a message, or None when neither a route nor ``$default`` matches."""
    match = _BODY_EXPRESSION.match(expression.strip())
    if match is not None:
        value: Any
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to route on
            value = None
        for key in match.group(1).split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value in routes and not value.startswith("$"):
            return value
    return "$default" if "$default" in routes else None


class HttpRouter:
    """Matches ``(method, path)`` against an HTTP API's routes."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self._routes: list[tuple[tuple[int, ...], HttpRoute, re.Pattern[str] | None]] = []
        for route in routes:
            if route.path == "$default":
                self._routes.append(((1, 0, 0, 1), route, None))
                continue
            pattern = ""
            params = greedy = 0
            for part in re.split(r"(\{[^}]+\})", route.path):
                if part.startswith("{") and part.endswith("+}"):
                    pattern += f"(?P<{part[1:-2]}>.+)"
                    greedy += 1
                elif part.startswith("{"):
                    pattern += f"(?P<{part[1:-1]}>[^/]+)"
                    params += 1
                else:
                    pattern += re.escape(part)
            rank = (0, greedy, params, int(route.method == "ANY"))
            self._routes.append((rank, route, re.compile(f"^{pattern}/?$")))
        self._routes.sort(key=lambda item: item[0])

    def __bool__(self) -> bool:
        return bool(self._routes)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The best route for the request and its path parameters, or None."""
        for _, route, pattern in self._routes:
            if route.method not in ("ANY", method):
                continue
            if pattern is None:
                return route, {}
            found = pattern.match(path)
            if found is not None:
                return route, found.groupdict()
        return None
