"""Hypothesis strategies for hostile input: JSON text that is strict, almost strict, or
not JSON at all, as an attacker would write it."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from hypothesis import strategies as st

from fuzz.hostile import HS256, sign_raw
from tests.conftest import SECRET

SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]

# Text that includes lone surrogates (Hypothesis' default alphabet leaves them out).
hostile_text = st.one_of(
    st.text(max_size=20),
    st.builds(
        lambda a, s, b: a + s + b,
        st.text(max_size=5),
        st.sampled_from(SURROGATES),
        st.text(max_size=5),
    ),
)

_strict_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_hostile_scalars = st.one_of(
    st.integers(min_value=10**300, max_value=10**320),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
# Mostly strict values, so that the accepting paths run as often as the refusals.
_scalars = st.one_of(*[_strict_scalars] * 9, _hostile_scalars)

# Strict JSON values only (nesting well under the limit).
strict_values: st.SearchStrategy[Any] = st.recursive(
    _strict_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# Any value json.dumps can write, NaN, Infinity and lone surrogates included.
json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def json_text(draw: st.DrawFn, value: st.SearchStrategy[Any] = json_values) -> str:
    """``value`` written as JSON (non-strict where the value is), sometimes wrapped in
    many levels of arrays, sometimes cut short or with raw surrogates left in."""
    text = json.dumps(draw(value), ensure_ascii=draw(st.booleans()), allow_nan=True)
    depth = draw(st.sampled_from([0] * 10 + [1, 31, 32, 33, 1000, 20_000]))
    text = "[" * depth + text + "]" * depth
    if draw(st.integers(0, 19)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


ACTIONS = ["subscribe", "unsubscribe", "publish", "history", "presence", "ping", "nope", ""]

frame_objects = st.fixed_dictionaries(
    {
        "action": st.one_of(
            st.sampled_from(ACTIONS), st.sampled_from(ACTIONS), hostile_text, json_values
        )
    },
    optional={
        "id": st.one_of(st.text(max_size=8), hostile_text, json_values),
        "channel": st.one_of(
            st.sampled_from(["room", "presence-room", "a" * 129]),
            st.sampled_from(["room", "presence-room"]),
            json_values,
        ),
        "data": json_values,
        "since": json_values,
        "epoch": json_values,
        "limit": st.one_of(st.integers(-5, 200), json_values),
        "before": json_values,
    },
)

# Frames: structured objects, any JSON, or any text at all.
frames = st.one_of(
    *[json_text(frame_objects)] * 4, json_text(), st.text(min_size=1, max_size=50), st.just("")
)


# ---------------------------------------------------------------- tokens
HEADER = HS256


def signed(header: str, payload: str) -> str:
    """An HS256 token over exactly this header and payload text (strict or not), signed
    with the tests' secret."""
    return sign_raw(SECRET, header, payload)


_FUTURE = st.integers(int(time.time()) + 3600, int(time.time()) + 10**6)  # at import
# NumericDate claims: numbers, and the look-alikes PyJWT alone would take ("1796...").
numeric_dates = st.one_of(
    _FUTURE,
    _FUTURE.map(str),
    _FUTURE.map(float),
    st.integers(0, 2**60),
    st.booleans(),
    json_values,
)

claims = st.fixed_dictionaries(
    {"exp": numeric_dates},
    optional={
        "sub": st.one_of(st.text(min_size=1, max_size=300), hostile_text, json_values),
        "userId": json_values,
        "nbf": st.one_of(st.integers(0, int(time.time())), numeric_dates),
        "iat": st.one_of(st.integers(0, int(time.time())), numeric_dates),
        "jti": json_values,
        "channels": json_values,
        "presence": json_values,
    },
)

# Correctly signed tokens whose claims are anything at all.
signed_tokens = st.builds(signed, st.just(HEADER), json_text(claims))


# ---------------------------------------------------------------- an oracle
MAX_DEPTH = 32  # docs/realtime.md: the documented nesting limit


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= 1.7976931348623157e308
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, list):
        return all(map(_finite, value))
    return True


def strict_json(text: str) -> tuple[Any, bool]:
    """RFC 8259 plus the documented limits, checked another way: the standard parser,
    then the value walked by recursion (safe once the depth is known to be small)."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        value = json.loads(text, parse_constant=no_constants)
    except (ValueError, RecursionError):
        return None, False
    try:
        if _depth(value) > MAX_DEPTH or not _finite(value):
            return None, False
    except RecursionError:  # far deeper than the limit
        return None, False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return None, False
    return value, True
