"""``$connect``: verify the token and the Origin, then store the connection."""

from __future__ import annotations

from typing import Any

from switchboard.container import Container
from switchboard.handlers import LambdaApp
from switchboard.lambda_events import WebSocketEvent
from switchboard.lifecycle import Handshake
from switchboard.telemetry import record_handshake

app = LambdaApp()
logger = app.logger


@app.websocket
def lambda_handler(event: WebSocketEvent, box: Container) -> dict[str, Any]:
    """Accept the handshake (200) or refuse it (401 or 403)."""
    request = event.request_context
    result = box.connector().connect(
        Handshake(
            connection_id=request.connection_id,
            connected_at_ms=request.connected_at,
            headers=event.headers,
            query=event.query_string_parameters,
            multi_query=event.multi_value_query_string_parameters,
            source_ip=request.identity.source_ip,
            user_agent=request.identity.user_agent,
            api_id=request.api_id,
            stage=request.stage,
        )
    )
    if result.identity is not None:
        logger.append_keys(user_id=result.identity.user_id)
        logger.info("connected")
    record_handshake(result)
    return result.as_response()
