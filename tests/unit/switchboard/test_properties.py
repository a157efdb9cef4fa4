"""Property tests (Hypothesis): the frame parser, the token verifier and the publish API's
body parsing, over arbitrary and hostile input. Never an exception beyond the documented
refusal; whatever is accepted is strict JSON that the encoder writes back."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard import protocol, server_publish
from switchboard.auth import Identity, TokenVerifier
from switchboard.errors import BadRequestError, PayloadTooLargeError, UnauthorizedError
from tests.conftest import SECRET
from tests.strategies import (
    HEADER,
    claims,
    frames,
    json_text,
    numeric_dates,
    signed,
    signed_tokens,
    strict_json,
    strict_values,
)

EXAMPLES = settings(max_examples=300, deadline=None)


@EXAMPLES
@given(frames)
def test_the_parser_accepts_exactly_strict_json_and_the_encoder_writes_it_back(
    text: str,
) -> None:
    expected, strict = strict_json(text)
    if not strict:
        with pytest.raises(BadRequestError, match=r"^the frame "):
            protocol.parse_json(text)
        return
    value = protocol.parse_json(text)
    assert value == expected
    encoded = protocol.encode(value)
    assert protocol.parse_json(encoded) == value


@EXAMPLES
@given(strict_values, st.booleans())
def test_every_strict_json_value_is_accepted_as_it_was_written(value: Any, ascii: bool) -> None:
    assert protocol.parse_json(json.dumps(value, ensure_ascii=ascii)) == value
    assert protocol.parse_json(protocol.encode(value)) == value


@EXAMPLES
@given(frames)
def test_parse_frame_returns_a_frame_or_a_bad_request(text: str) -> None:
    try:
        frame = protocol.parse_frame(text)
    except BadRequestError:
        assert protocol.peek_id(text) is None or isinstance(protocol.peek_id(text), str)
        return
    assert isinstance(frame.action, str)
    assert frame.action
    assert frame.id is None or isinstance(frame.id, str)
    protocol.encode(protocol.error(frame.id, "bad_request", "x"))


@EXAMPLES
@given(
    st.one_of(st.binary(max_size=64), json_text().map(lambda t: t.encode("utf-8", "surrogatepass")))
)
def test_a_publish_body_is_a_dict_or_a_documented_refusal(body: bytes) -> None:
    try:
        request = server_publish.parse_json_body(body)
    except (BadRequestError, PayloadTooLargeError):
        return
    assert isinstance(request, dict)
    protocol.encode(request)


VERIFIER = TokenVerifier(secret=SECRET)


@EXAMPLES
@given(
    st.text(min_size=1, max_size=256),
    st.integers(60, 2**52),  # seconds from now: drawn while the test runs, however late
    st.dictionaries(st.sampled_from(["aud2", "role", "x"]), strict_values, max_size=3),
)
def test_a_well_formed_token_verifies_whatever_its_claims_hold(
    user: str, lifetime: int, extra: dict[str, Any]
) -> None:
    exp = int(time.time()) + lifetime
    token = signed(HEADER, json.dumps({"sub": user, "exp": exp, **extra}))
    if len(token) > 4096:
        return
    identity = VERIFIER.verify(token)
    assert (identity.user_id, identity.expires_at) == (user, exp)


@EXAMPLES
@given(
    st.one_of(
        signed_tokens,
        st.builds(signed, json_text(), json_text(claims)),
        st.text(max_size=64),
    )
)
def test_the_verifier_returns_a_storable_identity_or_401(token: str) -> None:
    try:
        identity = VERIFIER.verify(token)
    except UnauthorizedError:
        return
    assert isinstance(identity, Identity)
    identity.user_id.encode("utf-8")
    assert 0 < len(identity.user_id) <= 256
    assert 0 <= identity.expires_at <= 2**53
    if identity.presence is not None:
        assert len(identity.presence.encode()) <= 1024
        protocol.parse_json(identity.presence)


def _a_date(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 2**53


@EXAMPLES
@given(
    numeric_dates,
    st.one_of(st.none(), st.integers(0, int(time.time())), numeric_dates),
    st.one_of(st.none(), st.integers(0, int(time.time())), numeric_dates),
)
def test_numeric_dates_are_numbers_or_the_token_is_refused(exp: Any, nbf: Any, iat: Any) -> None:
    optional = {"nbf": nbf, "iat": iat}
    payload = {"sub": "u", "exp": exp, **{k: v for k, v in optional.items() if v is not None}}
    token = signed(HEADER, json.dumps(payload))
    now = time.time()
    valid = (
        all(_a_date(value) for name, value in payload.items() if name != "sub")
        and exp > now - 5
        and (nbf is None or nbf <= now + 5)
        and (iat is None or iat <= now + 5)
    )
    if not valid:
        with pytest.raises(UnauthorizedError):
            VERIFIER.verify(token)
        return
    assert VERIFIER.verify(token).expires_at == int(exp)
