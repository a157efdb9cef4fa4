"""The wire protocol: parsing client frames and shaping server frames.

Pure functions on plain values: no I/O, so every rule is tested without sockets.
Client frames are JSON objects with an ``action``; every server frame (``ack``,
``error``, ``pong``, ``message``, ``direct``, ``join``, ``leave``) is built here (see
DESIGN.md, "Frames").
"""

from __future__ import annotations

import base64
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

from switchboard.errors import BadRequestError, PayloadTooLargeError

MAX_FRAME_BYTES = 128 * 1024  # API Gateway's limit for one WebSocket message
MAX_ID_LENGTH = 128
MAX_IDEMPOTENCY_KEY = 64  # a publish frame's idempotencyKey: 1-64 printable ASCII
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


MAX_DEPTH = 32  # arrays and objects nested in one another, the outermost counted
# The largest finite IEEE 754 double has 309 digits before the point: a JSON number
# beyond it is Infinity to every JavaScript client.
_MAX_INTEGER_DIGITS = len(str(int(sys.float_info.max)))


class _NotStrict(ValueError):
    """Raised inside the JSON decoder's hooks: the text is JSON, but not RFC 8259's."""


def _reject_constant(name: str) -> Any:
    raise _NotStrict(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotStrict(f"the number {text[:32]} overflows to infinity")
    return value


def _finite_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits >= _MAX_INTEGER_DIGITS and (
        digits > _MAX_INTEGER_DIGITS or abs(int(text)) > sys.float_info.max
    ):
        raise _NotStrict(f"the {digits}-digit number {text[:12]}... overflows to infinity")
    return int(text)


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_finite_int
)


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests more than :data:`MAX_DEPTH` containers (no recursion)."""
    if not isinstance(value, dict | list):
        return False
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def parse_json(text: str | bytes, what: str = "frame") -> Any:
    """Parse strict JSON (RFC 8259) in UTF-8, or raise ``bad_request`` saying what is wrong.

    The one parser for client frames and HTTP bodies (``what`` names which in the
    message). Refused: text that is not UTF-8 (a lone surrogate included), JSON that
    does not parse, ``NaN``/``Infinity``, numbers that overflow a double, strings or
    keys with a lone UTF-16 surrogate escape, and nesting deeper than
    :data:`MAX_DEPTH`. Whatever it returns, :func:`encode` can encode.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError(f"the {what} is not UTF-8 text") from None
    try:
        value = _DECODER.decode(text)
    except _NotStrict as exc:
        raise BadRequestError(f"the {what} is not strict JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError(f"the {what} is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise BadRequestError(f"the {what} is not valid JSON") from None
    if _too_deep(value):
        raise BadRequestError(f"the {what} is nested deeper than {MAX_DEPTH} levels")
    try:
        _ENCODER.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        # from an escape such as "\\ud800" (or a str that was never UTF-8)
        raise BadRequestError(
            f"the {what} is not strict JSON: a string holds a lone UTF-16 surrogate"
            " (\\ud800-\\udfff without its pair)"
        ) from None
    return value


_LENIENT = json.JSONDecoder()  # for peek_id only: any JSON, to find an id worth echoing
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(frame: Any) -> bytes:
    """Serialize a server frame (or any JSON value) as compact UTF-8 JSON; strict: it
    raises ``ValueError`` on NaN, Infinity or a lone surrogate, never sends them."""
    return _ENCODER.encode(frame).encode()


def peek_id(body: str | bytes | None) -> str | None:
    """Best-effort ``id`` of a frame that failed to parse, so its error can carry it.

    The rest of the frame may break any rule (NaN, nesting); the ``id`` itself must be
    one that :func:`parse_frame` accepts and the reply can carry, else it is dropped.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        value = _LENIENT.decode(text or "")
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    frame_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(frame_id, str) or len(frame_id) > MAX_ID_LENGTH:
        return None
    try:
        frame_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the reply could not carry it
        return None
    return frame_id


def frame_bytes(body: str) -> bytes:
    """A frame flagged ``isBase64Encoded``, decoded (``bad_request`` if it is not base64).
    API Gateway passes text frames only (a binary one closes the socket with 1003), so only
    a direct invocation sends one; it is still answered as a frame, never a traceback."""
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        raise BadRequestError("the frame is not valid base64") from None


def parse_frame(body: str | bytes | None) -> Frame:
    """Parse one client frame (text, or bytes: UTF-8 text) or raise ``bad_request``
    saying what is wrong."""
    if not body:
        raise BadRequestError("empty frame: send a JSON object with an 'action'")
    value = parse_json(body)
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


def optional_idempotency_key(value: Any) -> str | None:
    """A publish frame's ``idempotencyKey``: absent, or 1-64 printable ASCII characters
    (space to ``~``); anything else is ``bad_request``."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY
        or not all(" " <= char <= "~" for char in value)
    ):
        raise BadRequestError(
            f"'idempotencyKey' must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
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


def unsubscribed(channel: str, reason: str) -> dict[str, Any]:
    """The server ended a subscription (``reason``: ``forbidden`` after an ``auth`` that
    no longer allows the channel)."""
    return {"type": "unsubscribed", "channel": channel, "reason": reason}


def direct(data: Any, sender: str, ts: int) -> dict[str, Any]:
    """A ``direct`` frame: a message to every connection of one user."""
    return {"type": "direct", "data": data, "from": sender, "ts": ts}


def presence_join(channel: str, user_id: str, data: Any) -> dict[str, Any]:
    """A ``join`` frame: ``user_id`` arrived on a presence channel, with its data."""
    return {"type": "join", "channel": channel, "user": user_id, "data": data}


def presence_leave(channel: str, user_id: str) -> dict[str, Any]:
    """A ``leave`` frame: the last connection of ``user_id`` left a presence channel."""
    return {"type": "leave", "channel": channel, "user": user_id}


def member(user_id: str, data: str | None, connections: int) -> dict[str, Any]:
    """One entry of a ``presence`` ack's ``members`` (``data`` is the stored JSON text)."""
    return {
        "user": user_id,
        "data": json.loads(data) if data else None,
        "connections": connections,
    }


def history_page(channel: str, epoch: str | None, seq: int) -> dict[str, Any]:
    """The fields of a ``history`` ack (and of the HTTP API's page), with no messages yet."""
    return {"channel": channel, "epoch": epoch, "seq": seq, "messages": [], "next": None}


def check_frame_size(encoded: bytes) -> None:
    """Raise ``payload_too_large`` if an encoded frame exceeds API Gateway's 128 KB."""
    if len(encoded) > MAX_FRAME_BYTES:
        raise PayloadTooLargeError(
            f"the frame would be {len(encoded)} bytes; the limit is {MAX_FRAME_BYTES}"
        )


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
