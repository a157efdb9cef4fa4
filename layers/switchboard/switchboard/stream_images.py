"""The images of a DynamoDB stream record (DynamoDB JSON) as plain Python values.

Answers what boto3's ``TypeDeserializer`` answers (``N`` a :class:`~decimal.Decimal` in
DynamoDB's context, ``SS``/``NS`` sets, ``L`` lists, ``M`` dicts, ``NULL`` None), held to it
by ``tests/unit/switchboard/test_stream_images.py``, with two differences: ``B`` and ``BS``
are base64 text in the JSON Lambda passes, which this decodes to bytes (boto3's expects
bytes already and refuses them); and what boto3 lets through that DynamoDB never writes is
refused (:exc:`MalformedImageError`), not passed on: a number that is not one (boto3 reads
``"abc"`` as ``NaN``), ``NaN`` or ``Infinity``, an ``S``, ``BOOL`` or ``SS`` member of
another type. Why not boto3's: importing ``boto3.dynamodb.types``
imports boto3 (s3transfer, its resources and docs), about a tenth of the events function's
cold start (B3, docs/benchmarks.md), for a dozen lines.
"""

from __future__ import annotations

import base64
import binascii
import decimal
from collections.abc import Mapping
from typing import Any

__all__ = ["MalformedImageError", "deserialize", "image"]

# DynamoDB's numbers: 38 digits, exponents -128..126; anything else is refused, not rounded
# (boto3's DYNAMODB_CONTEXT).
DYNAMODB_CONTEXT = decimal.Context(
    Emin=-128,
    Emax=126,
    prec=38,
    traps=[decimal.Clamped, decimal.Overflow, decimal.Inexact, decimal.Rounded, decimal.Underflow],
)


class MalformedImageError(ValueError):
    """An attribute is not a DynamoDB JSON value."""


def _number(text: Any) -> decimal.Decimal:
    if not isinstance(text, str):
        raise MalformedImageError(f"a number is not a string: {text!r}")
    try:
        number = DYNAMODB_CONTEXT.create_decimal(text)
    except decimal.DecimalException:
        raise MalformedImageError(f"not a DynamoDB number: {text!r}") from None
    if not number.is_finite():  # "abc" is NaN in this context (not trapped): DynamoDB has none
        raise MalformedImageError(f"not a DynamoDB number: {text!r}")
    return number


def _binary(text: Any) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise MalformedImageError("a binary value is not base64") from None


def _items(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise MalformedImageError(f"not a {kind.__name__}: {value!r}")
    return value


def _strings(value: Any) -> list[str]:
    if not all(isinstance(item, str) for item in _items(value, list)):
        raise MalformedImageError(f"a string set holds what is not a string: {value!r}")
    return list(value)


def deserialize(attribute: Any) -> Any:
    """One attribute value: ``{"S": "a"}`` -> ``"a"``, ``{"N": "1"}`` -> ``Decimal(1)``..."""
    if not isinstance(attribute, Mapping) or not attribute:
        raise MalformedImageError("an attribute value is not a one-key map")
    kind, value = next(iter(attribute.items()))
    match str(kind).upper():
        case "S":
            return _items(value, str)
        case "BOOL":
            return _items(value, bool)
        case "NULL":
            return None
        case "N":
            return _number(value)
        case "B":
            return _binary(value)
        case "SS":
            return set(_strings(value))
        case "NS":
            return {_number(v) for v in _items(value, list)}
        case "BS":
            return {_binary(v) for v in _items(value, list)}
        case "L":
            return [deserialize(v) for v in _items(value, list)]
        case "M":
            return {k: deserialize(v) for k, v in _items(value, dict).items()}
    raise MalformedImageError(f"DynamoDB type {kind!r} is not supported")


def image(raw: Any) -> dict[str, Any] | None:
    """A whole image (``NewImage``, ``OldImage``, ``Keys``): ``None`` stays ``None``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedImageError("an image is not a map of attributes")
    return {key: deserialize(value) for key, value in raw.items()}
