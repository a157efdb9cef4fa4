"""The handlers' tracer: Powertools' ``Tracer`` only when tracing is on.

Creating Powertools' ``Tracer`` imports the X-Ray SDK (about 100 ms of a cold start)
even when ``POWERTOOLS_TRACE_DISABLED`` turns it off. With tracing off, handlers get
:class:`DisabledTracer`, whose decorators return the handler unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

Handler = TypeVar("Handler", bound=Callable[..., Any])

TRUE = frozenset({"1", "true", "yes", "on"})


class DisabledTracer:
    """A tracer that traces nothing and imports nothing."""

    def capture_lambda_handler(
        self, lambda_handler: Handler | None = None, capture_response: bool | None = None
    ) -> Any:
        """The handler, unchanged (used bare or called with arguments)."""
        if lambda_handler is not None:
            return lambda_handler

        def unchanged(handler: Handler) -> Handler:
            return handler

        return unchanged


def tracing_disabled(env: dict[str, str] | None = None) -> bool:
    """True when ``POWERTOOLS_TRACE_DISABLED`` turns tracing off."""
    value = (env if env is not None else os.environ).get("POWERTOOLS_TRACE_DISABLED", "")
    return value.strip().lower() in TRUE


def handler_tracer() -> Tracer:
    """Powertools' ``Tracer`` when tracing is on, else a :class:`DisabledTracer`."""
    if tracing_disabled():
        return cast("Tracer", DisabledTracer())
    from aws_lambda_powertools import Tracer

    return Tracer()
