"""Running the app's hooks: loading ``HOOKS_MODULE`` and each hook point's rules.

The container builds one :class:`HookPoints` when ``HOOKS_MODULE`` names a module (never
otherwise: without hooks neither this module nor the app's is imported). Each point
turns the hook's outcome into Switchboard's answers:

* :exc:`~switchboard.hooks.Reject` passes through (its code in an ``error`` frame, its
  status at ``$connect``);
* any other exception is the hook's bug: logged once with its traceback, then
  :exc:`HookFailedError` (``internal``; 500 at ``$connect``); the socket stays up;
* what a hook returns is checked as a client's data is: strict JSON, nesting and size;
* a module that fails to import (a syntax error, a missing import, two functions for one
  point) is logged once with its traceback, and then every hook point fails as a hook's bug
  does (``internal``; 500 at ``$connect``; ``on_disconnect`` skipped): no rule of the app is
  bypassed, and frames that run no hook (``ping``, ``history``...) are still answered.

Every failure goes through :meth:`HookPoints._fail`: logged, and counted in the
``HookErrors`` metric under its point (:func:`switchboard.telemetry.record_hook_error`),
since the invocation succeeds and Lambda's ``Errors`` never sees it.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from switchboard import hooks, protocol
from switchboard.errors import (
    BadRequestError,
    ConfigurationError,
    ProtocolError,
    UnknownMethodError,
)
from switchboard.hooks import Context, Hooks, Reject

if TYPE_CHECKING:
    from switchboard.realtime import Realtime
    from switchboard.storage import ConnectionRecord, DeletedConnection

logger = logging.getLogger(__name__)

META_MAX_BYTES = 4096  # on_connect's metadata, kept in the connection's item
SERVER_SENDER = "server"  # the ``from`` of what a hook publishes or sends


class HookFailedError(ProtocolError):
    """A hook raised something other than :exc:`Reject`: ``internal`` (logged)."""

    code = "internal"


def is_strict_json(value: Any, what: str) -> bool:
    """Whether ``value`` is strict JSON within the nesting limit."""
    try:
        protocol.parse_json(protocol.encode(value), what)
    except (TypeError, ValueError, BadRequestError):
        return False
    return True


def metric_point(point: str) -> str:
    """The ``hook`` dimension of a point: ``on_connect`` -> ``connect``, any
    ``rpc:<method>`` -> ``rpc`` (a method's name is the app's, and unbounded)."""
    return point.removeprefix("on_").partition(":")[0]


def import_hooks(module_name: str) -> Hooks:
    """Import (or re-import) the app's module and take the hooks it registered."""
    hooks.registry = Hooks()
    try:
        if module_name in sys.modules:
            importlib.reload(sys.modules[module_name])
        else:
            importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"HOOKS_MODULE {module_name!r} cannot be imported: {exc}") from exc
    registered, hooks.registry = hooks.registry, Hooks()
    return registered


@dataclass(frozen=True)
class HookPoints:
    """The loaded hooks and the rules of each point."""

    hooks: Hooks
    module_name: str = ""
    broken: bool = False  # the module failed to import: every hook point fails

    @classmethod
    def load(cls, module_name: str) -> HookPoints:
        """The hooks of ``module_name``; a module that fails to import is logged with its
        traceback and gives broken hook points (kept: the container's code cannot change)."""
        try:
            return cls(import_hooks(module_name), module_name)
        except Exception:
            logger.exception("hooks module failed to import", extra={"hooks_module": module_name})
            from switchboard import telemetry

            telemetry.record_hooks_import_failed()
            return cls(Hooks(), module_name, broken=True)

    def _fail(self, point: str, message: str, *, traceback: bool = False) -> HookFailedError:
        """The one place a hook's failure becomes :exc:`HookFailedError`: logged (with the
        traceback being handled when ``traceback``) and counted under its point."""
        from switchboard import telemetry  # only on a failure: no cost on the way through

        log = logger.exception if traceback else logger.error
        log(message, extra={"hook": point, "hooks_module": self.module_name})
        telemetry.record_hook_error(metric_point(point))
        return HookFailedError("internal error; try again")

    def _check(self, point: str) -> None:
        """Fail ``point`` as a hook's bug when the module failed to import."""
        if self.broken:
            raise self._fail(point, "hook not run: the hooks module failed to import")

    def _run(self, point: str, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except Reject:
            raise
        except Exception:
            raise self._fail(point, "hook failed", traceback=True) from None

    def _checked(self, point: str, value: Any, what: str) -> Any:
        """``value`` if it is strict JSON within the nesting limit, else the hook's bug."""
        if not is_strict_json(value, what):
            raise self._fail(point, f"hook returned a value that is not strict JSON ({what})")
        return value

    def connect(self, ctx: Context) -> str | None:
        """``on_connect``: the metadata to keep with the connection, as JSON (or ``None``)."""
        self._check("on_connect")
        if self.hooks.on_connect is None:
            return None
        meta = self._run("on_connect", self.hooks.on_connect, ctx)
        if meta is None:
            return None
        if not isinstance(meta, dict):
            raise self._fail("on_connect", "on_connect returned neither a dict nor None")
        encoded = protocol.encode(self._checked("on_connect", meta, "on_connect metadata"))
        if len(encoded) > META_MAX_BYTES:
            raise self._fail("on_connect", f"on_connect metadata over {META_MAX_BYTES} bytes")
        return encoded.decode()

    def subscribe(self, ctx: Context, channel: str) -> None:
        """``on_subscribe``: returns to accept, raises :exc:`Reject` to refuse."""
        self._check("on_subscribe")
        if self.hooks.on_subscribe is not None:
            self._run("on_subscribe", self.hooks.on_subscribe, ctx, channel)

    def publish(self, ctx: Context, channel: str, data: Any) -> Any:
        """``on_publish``: the data to publish instead (checked as a client's would be)."""
        self._check("on_publish")
        if self.hooks.on_publish is None:
            return data
        published = self._run("on_publish", self.hooks.on_publish, ctx, channel, data)
        self._checked("on_publish", published, "on_publish result")
        protocol.check_message_size(channel, published, ctx.user_id)
        return published

    @property
    def wants_disconnect(self) -> bool:
        """Whether an ``on_disconnect`` hook is registered."""
        return self.hooks.on_disconnect is not None

    def disconnect(self, ctx: Context) -> None:
        """``on_disconnect``, best effort: whatever it raises is logged, never answered."""
        if self.hooks.on_disconnect is None:
            return
        try:
            self._run("on_disconnect", self.hooks.on_disconnect, ctx)
        except Reject:
            logger.info("on_disconnect raised Reject; nothing to refuse")
        except HookFailedError:
            pass  # logged by _run

    def forget(self, realtime: Realtime, connection_id: str) -> DeletedConnection:
        """Forget a closed connection, then run ``on_disconnect`` for it (best effort:
        the record is read first only when the hook is registered)."""
        if self.broken:
            self._fail("on_disconnect", "on_disconnect not run: the hooks module failed to import")
        record = realtime.store.get_connection(connection_id) if self.wants_disconnect else None
        deleted = realtime.forget(connection_id)
        if record is not None:
            self.disconnect(context(record, lambda: realtime))
        return deleted

    def call(self, ctx: Context, method: Any, params: Any) -> Any:
        """An ``rpc``: the method's JSON result."""
        method = hooks.check_method(method)
        self._check(f"rpc:{method}")
        function = self.hooks.methods.get(method)
        if function is None:
            raise UnknownMethodError(f"no rpc method '{method}'")
        point = f"rpc:{method}"
        return self._checked(point, self._run(point, function, ctx, params), "rpc result")


def on_connect(
    points: HookPoints,
    record: ConnectionRecord,
    claims: dict[str, Any],
    realtime: Callable[[], Realtime],
) -> ConnectionRecord:
    """Run ``on_connect`` for a verified handshake: the record to store, with the claims
    and the hook's metadata (raises :exc:`Reject` or :exc:`HookFailedError`)."""
    ctx = context(record, realtime, claims=claims)
    meta = points.connect(ctx)
    return replace(record, claims=protocol.encode(claims).decode(), meta=meta)


def context(
    record: ConnectionRecord,
    realtime: Callable[[], Realtime],
    *,
    claims: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> Context:
    """The ``ctx`` of a hook running for ``record``'s connection."""

    def publish(channel: str, data: Any) -> dict[str, Any]:
        from switchboard.channels import validate_channel

        return realtime().publish(validate_channel(channel), data, SERVER_SENDER).as_dict()

    def send_to_user(user_id: str, data: Any) -> dict[str, Any]:
        return realtime().send_to_user(user_id, data, SERVER_SENDER).as_dict()

    return Context(
        connection_id=record.connection_id,
        user_id=record.user_id,
        claims=claims if claims is not None else _decoded(record.claims),
        meta=meta if meta is not None else _decoded_or_none(record.meta),
        _publish=publish,
        _send_to_user=send_to_user,
    )


def _decoded(text: str | None) -> dict[str, Any]:
    value = _decoded_or_none(text)
    return value if value is not None else {}


def _decoded_or_none(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
