"""The wire protocol: parsing client frames and shaping server frames.

Pure functions on plain values: no I/O, so every rule is tested without sockets.
Client frames are JSON objects with an ``action``; the server answers with
``ack``, ``error``, ``pong`` and ``message`` frames (see DESIGN.md, "Frames").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from switchboard.errors import BadRequestError, PayloadTooLargeError

MAX_FRAME_BYTES = 128 * 1024  # API Gateway's limit for one WebSocket message
MAX_ID_LENGTH = 128
# The widest values a message's numeric fields can take, for the size check.
_WIDEST_SEQ = 2**53
_WIDEST_TS = 10**13 - 1
_WIDEST_EPOCH = "e" * 16  # store.new_epoch() makes 12 characters


@dataclass(frozen=True)
class Frame:
    """A parsed client frame: its action, optional ``id`` and the whole object."""

    action: str
    id: str | None
    fields: dict[str, Any]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(body: str) -> Any:
    return json.loads(body, parse_constant=_reject_constant)


def encode(frame: dict[str, Any]) -> bytes:
    """Serialize a server frame as compact UTF-8 JSON."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()


def peek_id(body: str | None) -> str | None:
    """Best-effort ``id`` of a frame that failed to parse, so its error can carry it."""
    try:
        value = _loads(body or "")
    except ValueError:
        return None
    if isinstance(value, dict):
        frame_id = value.get("id")
        if isinstance(frame_id, str) and len(frame_id) <= MAX_ID_LENGTH:
            return frame_id
    return None


def parse_frame(body: str | None) -> Frame:
    """Parse one client frame or raise ``bad_request`` saying what is wrong."""
    if body is None or body == "":
        raise BadRequestError("empty frame: send a JSON object with an 'action'")
    try:
        value = _loads(body)
    except ValueError:
        raise BadRequestError("frame is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequestError("frame must be a JSON object")
    frame_id = value.get("id")
    if frame_id is not None and (not isinstance(frame_id, str) or len(frame_id) > MAX_ID_LENGTH):
        raise BadRequestError(f"'id' must be a string of at most {MAX_ID_LENGTH} characters")
    action = value.get("action")
    if not isinstance(action, str) or not action:
        raise BadRequestError("'action' must be a non-empty string")
    return Frame(action=action, id=frame_id, fields=value)


def ack(frame_id: str | None, **extra: Any) -> dict[str, Any]:
    """An ``ack`` frame; ``id`` is present when the client sent one."""
    reply: dict[str, Any] = {"type": "ack"}
    if frame_id is not None:
        reply["id"] = frame_id
    reply.update(extra)
    return reply


def error(frame_id: str | None, code: str, message: str) -> dict[str, Any]:
    """An ``error`` frame with a code from the contract."""
    reply: dict[str, Any] = {"type": "error"}
    if frame_id is not None:
        reply["id"] = frame_id
    reply["code"] = code
    reply["message"] = message
    return reply


def pong(frame_id: str | None, connection_id: str) -> dict[str, Any]:
    """The answer to ``ping``: tells the client its own connection id."""
    reply: dict[str, Any] = {"type": "pong"}
    if frame_id is not None:
        reply["id"] = frame_id
    reply["connectionId"] = connection_id
    return reply


def optional_count(value: Any, name: str, maximum: int | None = None) -> int | None:
    """A field that is absent (``None``) or a non-negative integer (``seq``, ``limit``),
    at most ``maximum``; anything else is ``bad_request``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequestError(f"'{name}' must be a non-negative integer")
    if maximum is not None and value > maximum:
        raise BadRequestError(f"'{name}' must be at most {maximum}")
    return value


def message(
    channel: str, data: Any, seq: int, sender: str, ts: int, *, epoch: str
) -> dict[str, Any]:
    """A ``message`` frame as every subscriber receives it.

    It carries the channel's ``epoch`` so that a client that subscribed before the
    channel's first message (an ack with no epoch) learns it, and one whose channel
    history was reset while it listened sees the change instead of taking the
    restarted ``seq`` for duplicates.
    """
    return {
        "type": "message",
        "channel": channel,
        "data": data,
        "seq": seq,
        "epoch": epoch,
        "from": sender,
        "ts": ts,
    }


def check_message_size(channel: str, data: Any, sender: str) -> None:
    """Raise ``payload_too_large`` if the message frame could exceed 128 KB.

    Counted on the whole envelope with the widest ``seq`` and ``ts``, before a
    ``seq`` is spent, so a message that passes always fits.
    """
    try:
        size = len(
            encode(message(channel, data, _WIDEST_SEQ, sender, _WIDEST_TS, epoch=_WIDEST_EPOCH))
        )
    except (TypeError, ValueError):
        raise BadRequestError("'data' must be JSON") from None
    if size > MAX_FRAME_BYTES:
        raise PayloadTooLargeError(
            f"the message frame would be {size} bytes; the limit is {MAX_FRAME_BYTES}"
        )
