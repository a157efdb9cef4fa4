"""Server-side publish (HTTP API): ``POST /publish``, ``POST /users/{userId}/messages``."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import server_publish, services
from switchboard.errors import AuthError, ForbiddenError, ProtocolError
from switchboard.telemetry import metrics
from switchboard.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # no X-Ray SDK import when tracing is off
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
services.settings()
app = APIGatewayHttpResolver()

STATUS = {
    "bad_request": 400,
    "forbidden": 403,
    "payload_too_large": 413,
    "rate_limited": 429,
    "unknown_action": 404,
    "internal": 500,
}


def _error(status: int, code: str, message: str) -> Response[Any]:
    return Response(
        status_code=status,
        content_type="application/json",
        body={"code": code, "message": message},
    )


@app.exception_handler(AuthError)  # type: ignore[untyped-decorator]
def refused(exc: AuthError) -> Response[Any]:
    """401 for a missing or bad credential."""
    return _error(exc.status, "unauthorized", exc.reason)


@app.exception_handler(ProtocolError)  # type: ignore[untyped-decorator]
def bad_request(exc: ProtocolError) -> Response[Any]:
    """A typed error: 400, 403, 413 ..."""
    status = 403 if isinstance(exc, ForbiddenError) else STATUS.get(exc.code, 400)
    return _error(status, exc.code, exc.message)


def _serve(route: str, user_id: str | None, run: Any) -> dict[str, Any]:
    event = app.current_event
    headers = event.headers
    caller = server_publish.authorize(headers, services.verifier_source().get())
    logger.append_keys(user_id=caller.name)
    request = server_publish.parse_json_body(event.decoded_body)
    key = server_publish.idempotency_key(headers)

    def action() -> dict[str, Any]:
        result: dict[str, Any] = run(caller, request)
        return result

    if key is None:
        return action()
    operation = {
        "key": f"{caller.name}:{route}:{user_id or ''}:{key}",
        "request": {"route": route, "user": user_id, "body": request},
    }
    runner = services.idempotent_runner()
    runner.register(app.lambda_context)
    return runner(operation, action)


@app.post("/publish")
def publish() -> dict[str, Any]:
    """Publish to one or many channels."""
    realtime = services.realtime(services.configured_endpoint())
    return _serve(
        "publish",
        None,
        lambda caller, request: server_publish.run_publish(realtime, caller, request),
    )


@app.post("/users/<user_id>/messages")
def user_messages(user_id: str) -> dict[str, Any]:
    """Send to every connection of one user."""
    realtime = services.realtime(services.configured_endpoint())
    return _serve(
        "user",
        user_id,
        lambda caller, request: server_publish.run_user_message(realtime, caller, user_id, request),
    )


@logger.inject_lambda_context(log_event=False, clear_state=True)  # headers hold a credential
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route the HTTP API request."""
    return app.resolve(event, context)
