"""``$connect``: verify the token and the Origin, then store the connection."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import services
from switchboard.lifecycle import Handshake
from switchboard.telemetry import metrics, record_handshake
from switchboard.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()  # no X-Ray SDK import when tracing is off
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
services.settings()  # a misconfiguration (e.g. a short WS_SECRET) fails the cold start


@logger.inject_lambda_context(log_event=False, clear_state=True)  # never log the token
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayWebSocketEvent)
def lambda_handler(event: APIGatewayWebSocketEvent, context: LambdaContext) -> dict[str, Any]:
    """Accept the handshake (200) or refuse it (401 or 403)."""
    request = event.request_context
    logger.append_keys(connection_id=request.connection_id)
    result = services.connector().connect(
        Handshake(
            connection_id=request.connection_id,
            connected_at_ms=request.connected_at,
            headers=event.headers,
            query=event.query_string_parameters,
            multi_query=event.multi_value_query_string_parameters,
            source_ip=request.identity.source_ip,
            user_agent=request.identity.user_agent,
        )
    )
    if result.identity is not None:
        logger.append_keys(user_id=result.identity.user_id)
        logger.info("connected")
    record_handshake(result)
    return result.as_response()
