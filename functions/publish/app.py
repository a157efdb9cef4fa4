"""The app's backend API (HTTP API): ``POST /publish``, ``POST /users/{userId}/messages``,
``GET /channels/{channel}/history``.

The HTTP API has exactly these routes and names the matched one in ``routeKey``
(with ``userId`` in ``pathParameters``), so the handler dispatches on it directly
rather than loading a path-matching resolver on the cold path. Errors are answered
through :func:`switchboard.errors.translate`, the table every edge uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import server_publish
from switchboard.container import Container
from switchboard.errors import translate
from switchboard.handlers import LambdaApp
from switchboard.lambda_events import HttpApiEvent

app = LambdaApp()
logger = app.logger

Route = Callable[[HttpApiEvent, LambdaContext, Container], dict[str, Any]]


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def _caller(event: HttpApiEvent, box: Container) -> server_publish.Caller:
    """The backend that sent the request (401/403 otherwise), named in the log lines."""
    caller = server_publish.authorize(event.headers, box.verifier())
    logger.append_keys(user_id=caller.name)
    return caller


def _serve(
    event: HttpApiEvent,
    context: LambdaContext,
    box: Container,
    *,
    route: str,
    user_id: str | None,
    run: Callable[[server_publish.Caller, dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    caller = _caller(event, box)
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
    runner = box.idempotent_runner()  # Powertools idempotency: loaded on first use
    runner.register(context)
    return runner(operation, action)


def publish(event: HttpApiEvent, context: LambdaContext, box: Container) -> dict[str, Any]:
    """``POST /publish``: one channel, many channels, or a batch."""
    realtime = box.realtime(box.configured_endpoint())
    return _serve(
        event,
        context,
        box,
        route="publish",
        user_id=None,
        run=lambda caller, request: server_publish.run_publish(realtime, caller, request),
    )


def user_messages(event: HttpApiEvent, context: LambdaContext, box: Container) -> dict[str, Any]:
    """``POST /users/{userId}/messages``: every connection of one user."""
    user_id = event.path_parameters.get("userId", "")
    realtime = box.realtime(box.configured_endpoint())
    return _serve(
        event,
        context,
        box,
        route="user",
        user_id=user_id,
        run=lambda caller, request: server_publish.run_user_message(
            realtime, caller, user_id, request
        ),
    )


def channel_history(event: HttpApiEvent, _context: LambdaContext, box: Container) -> dict[str, Any]:
    """``GET /channels/{channel}/history``: a page of history, or ``limit=0``: the position."""
    caller = _caller(event, box)
    realtime = box.realtime(box.configured_endpoint())
    channel = unquote(event.path_parameters.get("channel", ""))
    return server_publish.read_history(
        realtime, caller, channel, event.query_string_parameters or {}
    )


ROUTES: dict[str, Route] = {
    "POST /publish": publish,
    "POST /users/{userId}/messages": user_messages,
    "GET /channels/{channel}/history": channel_history,
}


@app.http
def lambda_handler(event: HttpApiEvent, context: LambdaContext, box: Container) -> dict[str, Any]:
    """Answer the HTTP API request: 200 with the result, or a typed error."""
    route = ROUTES.get(event.route_key)
    if route is None:
        return _response(404, {"code": "not_found", "message": f"no route {event.route_key!r}"})
    try:
        return _response(200, route(event, context, box))
    except Exception as exc:  # every error has its answer in one table
        answer = translate(exc)
        if not answer.expected:  # a bug: one log line with its traceback, and a JSON answer
            logger.exception("request failed")
        return _response(
            answer.status, {"code": answer.code, "message": answer.message or "internal error"}
        )
