"""The route table."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.actions import router as protocol_router
from switchboard.errors import UnknownActionError
from switchboard.router import Router


def test_register_resolve_and_include() -> None:
    main: Router[str] = Router()
    extra: Router[str] = Router()

    @main.action("a")
    def a(ctx: str) -> dict[str, Any]:
        return {"a": ctx}

    @extra.action("b", needs_connection=False)
    def b(ctx: str) -> dict[str, Any]:
        return {"b": ctx}

    main.include(extra)
    assert main.actions == ["a", "b"]
    assert main.resolve("a").handler("x") == {"a": "x"}
    assert main.resolve("b").needs_connection is False
    with pytest.raises(UnknownActionError, match="known: a, b"):
        main.resolve("c")
    with pytest.raises(ValueError, match="already registered"):
        main.action("a")(a)
    with pytest.raises(ValueError, match="already registered"):
        main.include(extra)


def test_the_protocol_actions() -> None:
    assert protocol_router.actions == [
        "auth",
        "history",
        "ping",
        "presence",
        "publish",
        "rpc",
        "subscribe",
        "unsubscribe",
    ]
