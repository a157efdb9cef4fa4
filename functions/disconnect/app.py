"""``$disconnect``: delete the connection and every subscription it had."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.data_classes import APIGatewayWebSocketEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import services
from switchboard.telemetry import metrics, record_disconnect
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
    """Clean up after a closed socket; running twice is harmless."""
    request = event.request_context
    logger.append_keys(connection_id=request.connection_id)
    realtime = services.realtime(services.endpoint_for(request.api_id, request.stage))
    deleted = realtime.forget(request.connection_id)
    if deleted.user_id is not None:
        logger.append_keys(user_id=deleted.user_id)
    logger.info(
        "disconnected",
        extra={
            "status_code": request.disconnect_status_code,
            "reason": request.disconnect_reason,
            "subscriptions": len(deleted.subscriptions),
        },
    )
    record_disconnect()
    return {"statusCode": 200}
