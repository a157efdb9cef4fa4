"""``$default``: the JSON protocol (subscribe, unsubscribe, publish, ping)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import services
from switchboard.telemetry import metrics
from switchboard.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # no X-Ray SDK import when tracing is off
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
services.settings()


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayWebSocketEvent)
def lambda_handler(event: APIGatewayWebSocketEvent, context: LambdaContext) -> dict[str, Any]:
    """Answer one client frame; the reply is posted back to the connection."""
    request = event.request_context
    logger.append_keys(connection_id=request.connection_id)
    handler = services.message_handler(services.endpoint_for(request.api_id, request.stage))
    reply = handler.handle(
        request.connection_id,
        event.decoded_body,
        identified=lambda user_id: logger.append_keys(user_id=user_id),
    )
    reply = reply or {"type": None}  # a publish with "ack": false gets no reply
    logger.info("frame", extra={"reply": reply.get("type"), "code": reply.get("code")})
    return {"statusCode": 200}
