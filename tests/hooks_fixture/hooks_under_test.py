"""The hooks module of the tests (unit tests import it, e2e tests name it in HOOKS_MODULE
with HOOKS_PATH at this directory): one behaviour per hook point, chosen by the input."""

from __future__ import annotations

from typing import Any

from switchboard import hooks
from switchboard.hooks import Context


@hooks.on_connect
def on_connect(ctx: Context) -> dict[str, Any] | None:
    mode = ctx.claims.get("hooks")
    if mode == "refuse":
        raise hooks.Reject(code="forbidden", message="not today")
    if mode == "teapot":
        raise hooks.Reject(code="teapot", message="short and stout", status=418)
    if mode == "crash":
        raise RuntimeError("on_connect bug")
    announce = ctx.claims.get("announce")  # a channel: the hook publishes the arrival there
    if isinstance(announce, str):
        ctx.publish(announce, {"joined": ctx.user_id})
    notify = ctx.claims.get("notify")  # a user: the hook tells them, in a direct frame
    if isinstance(notify, str):
        ctx.send_to_user(notify, {"hello": ctx.user_id})
    if mode == "no-meta":
        return None
    return {"plan": ctx.claims.get("plan", "free"), "connection": ctx.connection_id}


@hooks.on_subscribe
def on_subscribe(ctx: Context, channel: str) -> None:
    if channel == "room:boom":
        raise ZeroDivisionError("on_subscribe bug")
    if channel.startswith("room:vip") and (ctx.meta or {}).get("plan") != "pro":
        raise hooks.Reject(code="forbidden", message="pro plan only")


@hooks.on_publish
def on_publish(ctx: Context, channel: str, data: Any) -> Any:
    if channel == "room:boom":
        raise KeyError("on_publish bug")
    if channel == "room:nan":
        return float("nan")
    if channel == "room:huge":
        return "x" * 200_000
    if isinstance(data, dict) and "darn" in str(data.get("text", "")):
        raise hooks.Reject(code="bad_word", message="mind your language")
    if isinstance(data, dict):
        return {**data, "by": ctx.user_id, "plan": (ctx.meta or {}).get("plan")}
    return data


@hooks.on_disconnect
def on_disconnect(ctx: Context) -> None:
    ctx.publish("audit", {"left": ctx.user_id, "plan": (ctx.meta or {}).get("plan")})
    notify = ctx.claims.get("notify")
    if isinstance(notify, str):
        ctx.send_to_user(notify, {"bye": ctx.user_id})


@hooks.rpc("whoami")
def whoami(ctx: Context, params: Any) -> dict[str, Any]:
    return {"user": ctx.user_id, "sub": ctx.claims.get("sub"), "meta": ctx.meta, "params": params}


@hooks.rpc("announce")
def announce(ctx: Context, params: Any) -> Any:
    return ctx.publish(params["channel"], params["data"])["seq"]


@hooks.rpc("dm")
def dm(ctx: Context, params: Any) -> Any:
    return ctx.send_to_user(params["user"], params["data"])["delivered"]


@hooks.rpc("boom")
def boom(ctx: Context, params: Any) -> Any:
    raise ValueError("rpc bug")


@hooks.rpc("unencodable")
def unencodable(ctx: Context, params: Any) -> Any:
    return {1, 2}
