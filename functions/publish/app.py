"""The app's backend API (HTTP API): ``POST /publish``, ``POST /users/{userId}/messages``,
``GET /channels/{channel}/history``.

The HTTP API has exactly these routes and names the matched one in ``routeKey``
(with ``userId`` in ``pathParameters``), so the handler dispatches on it directly
rather than loading a path-matching resolver on the cold path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import server_publish, services
from switchboard.errors import AuthError, ForbiddenError, ProtocolError
from switchboard.telemetry import metrics
from switchboard.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # no X-Ray SDK import when tracing is off
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
services.settings()

STATUS = {
    "bad_request": 400,
    "forbidden": 403,
    "conflict": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "unknown_action": 404,
    "internal": 500,
}


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return _response(status, {"code": code, "message": message})


def _caller(event: APIGatewayProxyEventV2) -> server_publish.Caller:
    """The backend that sent the request (401/403 otherwise), named in the log lines."""
    caller = server_publish.authorize(event.headers, services.verifier_source().get())
    logger.append_keys(user_id=caller.name)
    return caller


def _serve(
    event: APIGatewayProxyEventV2,
    context: LambdaContext,
    route: str,
    user_id: str | None,
    run: Callable[[Any, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    caller = _caller(event)
    request = server_publish.parse_json_body(
        server_publish.request_body(event.body, bool(event.is_base64_encoded))
    )
    key = server_publish.idempotency_key(event.headers)

    def action() -> dict[str, Any]:
        return run(caller, request)

    if key is None:
        return action()
    operation = {
        "key": f"{caller.name}:{route}:{user_id or ''}:{key}",
        "request": {"route": route, "user": user_id, "body": request},
    }
    runner = services.idempotent_runner()  # Powertools idempotency: loaded on first use
    runner.register(context)
    return runner(operation, action)


def publish(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict[str, Any]:
    """``POST /publish``: one channel, many channels, or a batch."""
    realtime = services.realtime(services.configured_endpoint())
    return _serve(
        event,
        context,
        "publish",
        None,
        lambda caller, request: server_publish.run_publish(realtime, caller, request),
    )


def user_messages(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict[str, Any]:
    """``POST /users/{userId}/messages``: every connection of one user."""
    user_id = event.path_parameters.get("userId", "")
    realtime = services.realtime(services.configured_endpoint())
    return _serve(
        event,
        context,
        "user",
        user_id,
        lambda caller, request: server_publish.run_user_message(realtime, caller, user_id, request),
    )


def channel_history(event: APIGatewayProxyEventV2, _context: LambdaContext) -> dict[str, Any]:
    """``GET /channels/{channel}/history``: a page of history, or ``limit=0``: the position."""
    caller = _caller(event)
    realtime = services.realtime(services.configured_endpoint())
    channel = unquote(event.path_parameters.get("channel", ""))
    return server_publish.read_history(
        realtime, caller, channel, event.query_string_parameters or {}
    )


ROUTES: dict[str, Callable[[APIGatewayProxyEventV2, LambdaContext], dict[str, Any]]] = {
    "POST /publish": publish,
    "POST /users/{userId}/messages": user_messages,
    "GET /channels/{channel}/history": channel_history,
}


@logger.inject_lambda_context(log_event=False, clear_state=True)  # headers hold a credential
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayProxyEventV2)
def lambda_handler(event: APIGatewayProxyEventV2, context: LambdaContext) -> dict[str, Any]:
    """Answer the HTTP API request: 200 with the result, or a typed error."""
    route = ROUTES.get(event.route_key)
    if route is None:
        return _error(404, "not_found", f"no route {event.route_key!r}")
    try:
        return _response(200, route(event, context))
    except AuthError as exc:  # 401 for a missing or bad credential
        return _error(exc.status, "unauthorized", exc.reason)
    except ProtocolError as exc:  # 400, 403, 409, 413 ...
        status = 403 if isinstance(exc, ForbiddenError) else STATUS.get(exc.code, 400)
        return _error(status, exc.code, exc.message)
    except Exception:  # a bug: one log line with its traceback, and a JSON answer
        logger.exception("request failed")
        return _error(500, "internal", "internal error")
