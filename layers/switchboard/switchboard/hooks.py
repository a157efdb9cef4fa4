"""The app's own Python on Switchboard's events: ``from switchboard import hooks``.

The app's module (named by ``HOOKS_MODULE``) decorates its functions::

    from switchboard import hooks

    @hooks.on_connect            # (ctx) -> dict | None: kept with the connection (ctx.meta)
    @hooks.on_subscribe          # (ctx, channel) -> None
    @hooks.on_publish            # (ctx, channel, data) -> data: what is published
    @hooks.on_disconnect         # (ctx) -> None, best effort
    @hooks.rpc("name")           # (ctx, params) -> JSON result

and refuses with ``raise hooks.Reject(code="forbidden", message="...", status=403)``.
Decorating only records the function in this module's registry; nothing runs until
:mod:`switchboard.hook_points` loads the app's module. This module imports nothing
heavy: an app's module costs its own imports and no more.

* :exc:`Reject` (a :exc:`~switchboard.errors.ProtocolError`) - the hook refuses: an
  ``error`` frame with its ``code``, or ``status`` at ``$connect``
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from switchboard.errors import BadRequestError, ProtocolError

__all__ = [
    "Context",
    "Hooks",
    "Reject",
    "on_connect",
    "on_disconnect",
    "on_publish",
    "on_subscribe",
    "rpc",
]

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
METHOD_PATTERN = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")


def check_method(method: Any) -> str:
    """An ``rpc`` frame's ``method``, or ``bad_request``."""
    if not isinstance(method, str) or not METHOD_PATTERN.match(method):
        raise BadRequestError("'method' must be a string of 1 to 128 of A-Z a-z 0-9 _.:/-")
    return method


class Reject(ProtocolError):  # the contract's name (DESIGN.md), not ...Error
    """A hook refuses: the client gets ``{"type": "error", "code": code, "message": ...}``;
    at ``$connect`` the handshake is answered with ``status`` (default 403)."""

    def __init__(
        self, *, code: str = "forbidden", message: str = "refused", status: int = 403
    ) -> None:
        if not CODE_PATTERN.match(code):
            raise ValueError(f"a Reject code is 1-64 of a-z, 0-9 and _; got {code!r}")
        if not 400 <= status <= 499:
            raise ValueError(f"a Reject status is a 4xx status; got {status}")
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Context:
    """Who the hook runs for, and what it may do: publish and send to users."""

    connection_id: str
    user_id: str
    claims: dict[str, Any]
    meta: dict[str, Any] | None
    _publish: Callable[[str, Any], dict[str, Any]] = field(repr=False)
    _send_to_user: Callable[[str, Any], dict[str, Any]] = field(repr=False)

    def publish(self, channel: str, data: Any) -> dict[str, Any]:
        """Publish ``data`` on ``channel`` as the server (no ``on_publish`` hook runs);
        returns the publish's ``seq``, ``epoch`` and delivery report."""
        return self._publish(channel, data)

    def send_to_user(self, user_id: str, data: Any) -> dict[str, Any]:
        """Send a ``direct`` frame to every connection of ``user_id``; returns the
        delivery report."""
        return self._send_to_user(user_id, data)


type Hook = Callable[..., Any]


@dataclass
class Hooks:
    """The hooks one app module registered: at most one per point, rpc methods by name."""

    on_connect: Hook | None = None
    on_subscribe: Hook | None = None
    on_publish: Hook | None = None
    on_disconnect: Hook | None = None
    methods: dict[str, Hook] = field(default_factory=dict)

    def set_point(self, point: str, function: Hook) -> Hook:
        """Register ``function`` as the hook of ``point`` (once)."""
        if getattr(self, point) is not None:
            raise ValueError(f"a second {point} hook: {function.__qualname__}; one per point")
        setattr(self, point, function)
        return function

    def add_method(self, name: str, function: Hook) -> Hook:
        """Register ``function`` as the rpc method ``name`` (once)."""
        if not isinstance(name, str) or not METHOD_PATTERN.match(name):
            raise ValueError(f"an rpc method name is 1-128 of A-Z a-z 0-9 _.:/-; got {name!r}")
        if name in self.methods:
            raise ValueError(f"rpc method {name!r} is registered twice")
        self.methods[name] = function
        return function


registry = Hooks()  # filled by the app's module as it is imported (hook_points reads it)


def on_connect(function: Hook) -> Hook:
    """``(ctx) -> dict | None`` at ``$connect``: a dict is kept as the connection's
    ``ctx.meta``; :exc:`Reject` refuses the handshake with its status."""
    return registry.set_point("on_connect", function)


def on_subscribe(function: Hook) -> Hook:
    """``(ctx, channel) -> None`` before a subscribe is accepted; :exc:`Reject` refuses."""
    return registry.set_point("on_subscribe", function)


def on_publish(function: Hook) -> Hook:
    """``(ctx, channel, data) -> data`` before the message takes a ``seq``: what it returns
    is what subscribers and history get; :exc:`Reject` refuses (no ``seq`` is spent)."""
    return registry.set_point("on_publish", function)


def on_disconnect(function: Hook) -> Hook:
    """``(ctx) -> None`` at ``$disconnect``, best effort (never at all for a socket that
    vanished without ``$disconnect``)."""
    return registry.set_point("on_disconnect", function)


def rpc(name: str) -> Callable[[Hook], Hook]:
    """``(ctx, params) -> result`` for ``{"action": "rpc", "method": name, ...}``; the
    result (JSON) comes back in the ``ack``."""

    def register(function: Hook) -> Hook:
        return registry.add_method(name, function)

    return register
