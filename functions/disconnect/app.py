"""``$disconnect``: delete the connection and every subscription it had."""

from __future__ import annotations

from typing import Any

from switchboard.container import Container
from switchboard.handlers import LambdaApp
from switchboard.lambda_events import WebSocketEvent
from switchboard.telemetry import record_disconnect

app = LambdaApp()
logger = app.logger


@app.websocket
def lambda_handler(event: WebSocketEvent, box: Container) -> dict[str, Any]:
    """Clean up after a closed socket; running twice is harmless."""
    request = event.request_context
    realtime = box.realtime(box.endpoint_for(request.api_id, request.stage))
    hooks = box.hooks()
    if hooks is None:
        deleted = realtime.forget(request.connection_id)
    else:
        deleted = hooks.forget(realtime, request.connection_id)
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
