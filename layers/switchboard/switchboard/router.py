"""The route table of ``$default``: actions register by name.

An unknown action is an answer (``unknown_action``), not an exception that
escapes. The router knows nothing of DynamoDB or sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard.errors import UnknownActionError

type Handler[Ctx] = Callable[[Ctx], dict[str, Any] | None]


@dataclass(frozen=True)
class Route[Ctx]:
    """One registered action: its handler, whether it needs the connection record, and
    whether reading the record also counts a publish against the rate limit.

    A handler returns its reply, or ``None`` when the client asked for none.
    """

    name: str
    handler: Handler[Ctx]
    needs_connection: bool
    rate_limited: bool = False


class Router[Ctx]:
    """Maps action names to handlers."""

    def __init__(self) -> None:
        self._routes: dict[str, Route[Ctx]] = {}

    def action(
        self, name: str, *, needs_connection: bool = True, rate_limited: bool = False
    ) -> Callable[[Handler[Ctx]], Handler[Ctx]]:
        """Register the decorated function as the handler of ``name``."""

        def register(handler: Handler[Ctx]) -> Handler[Ctx]:
            if name in self._routes:
                raise ValueError(f"action '{name}' is already registered")
            self._routes[name] = Route(name, handler, needs_connection, rate_limited)
            return handler

        return register

    def include(self, other: Router[Ctx]) -> None:
        """Add every route of ``other`` (a router defined in another module)."""
        for route in other._routes.values():
            if route.name in self._routes:
                raise ValueError(f"action '{route.name}' is already registered")
            self._routes[route.name] = route

    def resolve(self, name: str) -> Route[Ctx]:
        """The route for ``name``, or ``unknown_action``."""
        try:
            return self._routes[name]
        except KeyError:
            known = ", ".join(sorted(self._routes))
            raise UnknownActionError(f"unknown action '{name}'; known: {known}") from None

    @property
    def actions(self) -> list[str]:
        """The registered action names, sorted."""
        return sorted(self._routes)
