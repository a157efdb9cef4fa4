"""Property tests (Hypothesis) through the real handlers, with moto's DynamoDB: for any
frame, body or token, exactly one answer with a documented code, and never a bug's."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.connect import app as connect_app
from functions.publish import app as publish_app
from tests.conftest import CONTEXT, ManagementApiFake, connect, load_event, make_token, send_frame
from tests.strategies import frames, json_text, json_values, signed_tokens, strict_json

ME = "Fz1xWfAGIAMCKsA="
# The contract's error codes, but `internal`: that one is a bug.
CODES = {"bad_request", "unknown_action", "forbidden", "payload_too_large", "rate_limited"}
HANDLER_EXAMPLES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@HANDLER_EXAMPLES
@given(body=frames)
def test_every_frame_gets_exactly_one_documented_reply(
    management: ManagementApiFake, body: str
) -> None:
    if not management.replies(ME):
        connect(ME, "alice", channels=["room", "presence-*"])
        send_frame(ME, {"action": "ping"})
    before = len(management.replies(ME))
    send_frame(ME, body)
    # server events (a message, a presence join or leave) are broadcasts, not replies
    events = {"message", "join", "leave"}
    replies = [f for f in management.replies(ME)[before:] if f["type"] not in events]
    assert len(replies) == 1, replies
    (reply,) = replies
    assert reply["type"] in {"ack", "pong", "error"}
    if reply["type"] == "error":
        assert reply["code"] in CODES, reply
    for frame in management.replies(ME)[before:]:  # strict: a subscriber can parse it
        json.dumps(frame, allow_nan=False, ensure_ascii=False).encode("utf-8")


SERVER = make_token("backend", ttl=3600, scope="publish")
bodies = st.one_of(
    json_text(
        st.fixed_dictionaries(
            {}, optional={"channel": st.sampled_from(["room", "x y"]), "data": json_values}
        )
    ),
    json_text(),
    st.binary(max_size=32).map(lambda raw: raw.decode("latin-1")),
)


@HANDLER_EXAMPLES
@given(body=bodies, base64_encoded=st.booleans())
def test_every_publish_body_gets_a_documented_status(
    management: ManagementApiFake, body: str, base64_encoded: bool
) -> None:
    request = load_event("publish")
    request["headers"].pop("idempotency-key", None)
    request["headers"]["authorization"] = f"Bearer {SERVER}"
    raw = body.encode("utf-8", "surrogatepass")
    request["body"] = base64.b64encode(raw).decode() if base64_encoded else body
    request["isBase64Encoded"] = base64_encoded
    response = publish_app.lambda_handler(request, CONTEXT)
    answer = json.loads(response["body"])
    assert response["statusCode"] in {200, 400, 413}, answer
    if response["statusCode"] == 200:
        assert strict_json(raw.decode("utf-8"))[1], "published a body that is not strict JSON"
    else:
        assert answer["code"] in CODES


@HANDLER_EXAMPLES
@given(token=st.one_of(signed_tokens, json_text(), st.text(max_size=40)), twice=st.booleans())
def test_every_token_gets_200_or_401(aws: None, token: str, twice: bool) -> None:
    event = load_event("connect")
    tokens = [token, token] if twice else [token]
    event["queryStringParameters"] = {"token": token}
    event["multiValueQueryStringParameters"] = {"token": tokens}
    result: dict[str, Any] = connect_app.lambda_handler(event, CONTEXT)
    assert result["statusCode"] in ({401} if twice else {200, 401, 403})  # 403: a jti replayed
    if result["statusCode"] == 200:  # then the claims were strict JSON, dates numbers
        payload = token.split(".")[1]
        claims, strict = strict_json(base64.urlsafe_b64decode(payload + "==").decode())
        assert strict
        assert all(
            isinstance(claims[name], int | float) and not isinstance(claims[name], bool)
            for name in ("exp", "nbf", "iat")
            if name in claims
        ), claims
