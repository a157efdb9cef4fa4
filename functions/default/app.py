"""``$default``: the JSON protocol (subscribe, unsubscribe, publish, history, presence, ping)."""

from __future__ import annotations

from typing import Any

from switchboard.container import Container
from switchboard.handlers import LambdaApp
from switchboard.lambda_events import WebSocketEvent

app = LambdaApp()
logger = app.logger


@app.websocket
def lambda_handler(event: WebSocketEvent, box: Container) -> dict[str, Any]:
    """Answer one client frame; the reply is posted back to the connection."""
    request = event.request_context
    handler = box.message_handler(box.endpoint_for(request.api_id, request.stage))
    reply = handler.handle(
        request.connection_id,
        event.body,  # decoded by the handler: a frame that is not base64 or UTF-8 is answered
        identified=lambda user_id: logger.append_keys(user_id=user_id),
        base64_encoded=event.is_base64_encoded,
    )
    reply = reply or {"type": None}  # a publish with "ack": false gets no reply
    logger.info("frame", extra={"reply": reply.get("type"), "code": reply.get("code")})
    return {"statusCode": 200}
