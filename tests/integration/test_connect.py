"""$connect through the real handler, with moto's DynamoDB: the token checklist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.connect import app
from switchboard import services
from switchboard.auth import TokenVerifier
from switchboard.errors import ConfigurationError, Refusal, UnauthorizedError
from switchboard.lifecycle import Handshake
from switchboard.store import ConnectionModel
from tests.conftest import CONNECTED_AT_MS, SECRET, load_event, make_token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


def connect(
    token: str | None, *, origin: str | None = "https://myapp.vercel.app", ctx: Any = None
) -> dict[str, Any]:
    event = load_event("connect")
    event["queryStringParameters"] = {"token": token} if token is not None else None
    event["multiValueQueryStringParameters"] = {"token": [token]} if token is not None else None
    if origin is None:
        del event["headers"]["Origin"]
    else:
        event["headers"]["Origin"] = origin
    result: dict[str, Any] = app.lambda_handler(event, ctx)
    return result


@pytest.fixture
def now() -> int:
    return int(time.time())


def test_a_valid_token_stores_the_connection(aws: None, lambda_context: Any) -> None:
    token = make_token("alice", channels=["room:*"])
    result = connect(token, ctx=lambda_context)
    assert result["statusCode"] == 200
    assert "headers" not in result
    item = ConnectionModel.get("Fz1xWfAGIAMCKsA=")
    assert item.user_id == "alice"
    assert list(item.channels) == ["room:*"]
    assert item.connected_at == 1795636800000
    assert item.source_ip == "203.0.113.7"
    assert item.user_agent.startswith("Mozilla/5.0")
    # TTL: connect + 2 h + 10 min margin
    assert item.ttl == 1795636800 + 2 * 3600 + 600


def test_the_next_js_hand_off_shape_is_accepted(aws: None, lambda_context: Any, now: int) -> None:
    token = jwt.encode({"userId": "alice", "exp": now + 30}, SECRET, algorithm="HS256")
    assert connect(token, ctx=lambda_context)["statusCode"] == 200
    assert ConnectionModel.get("Fz1xWfAGIAMCKsA=").user_id == "alice"
    assert ConnectionModel.get("Fz1xWfAGIAMCKsA=").channels is None


def test_a_token_in_the_subprotocol_is_accepted_and_echoed(aws: None, lambda_context: Any) -> None:
    event = load_event("connect_subprotocol")
    event["headers"]["Sec-WebSocket-Protocol"] = f"switchboard, {make_token('bob')}"
    result = app.lambda_handler(event, lambda_context)
    assert result["statusCode"] == 200
    assert result["headers"] == {"Sec-WebSocket-Protocol": "switchboard"}
    assert ConnectionModel.get("Fz1xWfAGIAMCKsA=").user_id == "bob"


def test_a_refused_subprotocol_handshake_is_not_echoed(aws: None, lambda_context: Any) -> None:
    event = load_event("connect_subprotocol")
    event["headers"]["Sec-WebSocket-Protocol"] = "switchboard, not-a-token"
    result = app.lambda_handler(event, lambda_context)
    assert result["statusCode"] == 401
    assert "headers" not in result


def _rsa_public_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hs256_with_key(payload: dict[str, Any], key: bytes) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tampered() -> str:
    header, payload, signature = make_token("alice").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _case(token_factory: Any, id: str) -> Any:
    return pytest.param(token_factory, id=id)


REFUSED_401 = [
    _case(lambda now: None, "missing"),
    _case(
        lambda now: _unsigned({"alg": "none", "typ": "JWT"}, {"sub": "alice", "exp": now + 60}),
        "alg-none",
    ),
    _case(
        lambda now: _unsigned({"alg": "noNE", "typ": "JWT"}, {"sub": "alice", "exp": now + 60}),
        "alg-noNE",
    ),
    _case(
        lambda now: _unsigned({"alg": "none"}, {"sub": "alice", "exp": now + 60}) + "c2ln",
        "alg-none-with-signature",
    ),
    _case(
        lambda now: _hs256_with_key({"sub": "alice", "exp": now + 60}, _rsa_public_pem()),
        "hs256-signed-with-rsa-public-key",
    ),
    _case(lambda now: _tampered(), "tampered-payload"),
    _case(lambda now: jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"), "no-exp"),
    _case(lambda now: make_token("alice", ttl=-60), "expired-beyond-leeway"),
    _case(lambda now: make_token("alice", nbf=now + 120), "nbf-in-the-future"),
    _case(
        lambda now: make_token("alice", secret="another-secret-that-is-long-enough-000"),
        "wrong-secret",
    ),
    _case(
        lambda now: make_token("alice", algorithm="HS512", secret=SECRET * 2), "hs512-not-pinned"
    ),
    _case(lambda now: make_token(None), "no-user"),
    _case(lambda now: make_token("alice", channels="room:*"), "channels-not-a-list"),
    _case(lambda now: "a" * 4097, "over-4096-characters"),
    _case(lambda now: make_token("alice", pad="x" * 4100), "signed-but-over-4096-characters"),
    _case(lambda now: "not.a-jwt", "two-segments"),
    _case(lambda now: "eyJ.eyJ.sig.extra", "four-segments"),
    _case(lambda now: "eyJhbGciOiJIUzI1NiJ9.e30.!!!", "not-base64url"),
    _case(lambda now: "e30.e30.e30", "garbage-json"),
]


@pytest.mark.parametrize("token_factory", REFUSED_401)
def test_bad_tokens_get_401(aws: None, lambda_context: Any, now: int, token_factory: Any) -> None:
    result = connect(token_factory(now), ctx=lambda_context)
    assert result["statusCode"] == 401
    with pytest.raises(ConnectionModel.DoesNotExist):
        ConnectionModel.get("Fz1xWfAGIAMCKsA=")


def test_expiry_inside_the_leeway_is_accepted(aws: None, lambda_context: Any) -> None:
    assert connect(make_token("alice", ttl=-2), ctx=lambda_context)["statusCode"] == 200


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param(
            {"aud": "switchboard", "iss": "https://myapp.vercel.app"}, 200, id="both-right"
        ),
        pytest.param({"aud": "other", "iss": "https://myapp.vercel.app"}, 401, id="wrong-aud"),
        pytest.param({"aud": "switchboard", "iss": "https://evil.example"}, 401, id="wrong-iss"),
        pytest.param({"iss": "https://myapp.vercel.app"}, 401, id="missing-aud"),
    ],
)
def test_audience_and_issuer_when_configured(
    aws: None,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    claims: dict[str, Any],
    status: int,
) -> None:
    monkeypatch.setenv("TOKEN_AUDIENCE", "switchboard")
    monkeypatch.setenv("TOKEN_ISSUER", "https://myapp.vercel.app")
    services.reset()
    services.store()
    assert connect(make_token("alice", **claims), ctx=lambda_context)["statusCode"] == status


def test_a_replayed_jti_gets_403(aws: None, lambda_context: Any) -> None:
    token = make_token("alice", jti="one-time-7f3a")
    assert connect(token, ctx=lambda_context)["statusCode"] == 200
    assert connect(token, ctx=lambda_context)["statusCode"] == 403


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        pytest.param("https://myapp.vercel.app", 200, id="listed"),
        pytest.param("https://myapp-git-feature-x-team.vercel.app", 200, id="preview-wildcard"),
        pytest.param(
            "https://myapp-a.evil.com-team.vercel.app", 403, id="wildcard-never-crosses-a-dot"
        ),
        pytest.param("https://evil.example", 403, id="not-listed"),
        pytest.param("http://myapp.vercel.app", 403, id="wrong-scheme"),
        pytest.param(None, 200, id="no-origin-non-browser"),
    ],
)
def test_origin_allowlist(
    aws: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, origin: str | None, status: int
) -> None:
    monkeypatch.setenv(
        "ALLOWED_ORIGINS", "https://myapp.vercel.app, https://myapp-*-team.vercel.app"
    )
    services.reset()
    services.store()
    assert connect(make_token("alice"), origin=origin, ctx=lambda_context)["statusCode"] == status


def test_a_disallowed_origin_is_refused_before_the_token_is_spent(
    aws: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://myapp.vercel.app")
    services.reset()
    services.store()
    token = make_token("alice", jti="spend-me-once")
    assert connect(token, origin="https://evil.example", ctx=lambda_context)["statusCode"] == 403
    assert connect(token, ctx=lambda_context)["statusCode"] == 200


def test_a_short_secret_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WS_SECRET", "too-short")
    services.reset()
    try:
        with pytest.raises(ConfigurationError, match="at least 32 bytes"):
            services.settings()
        with pytest.raises(ConfigurationError, match="at least 32 bytes"):
            TokenVerifier(secret="x" * 31)
    finally:
        services.reset()


def test_a_short_secret_in_ssm_fails_each_handshake_with_500_and_says_why(
    aws: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    boto3.client("ssm").put_parameter(Name="/sb/short", Value="short-secret", Type="SecureString")
    monkeypatch.delenv("WS_SECRET")
    monkeypatch.setenv("WS_SECRET_PARAMETER", "/sb/short")
    parameters.clear_caches()
    services.reset()
    try:
        result = services.connector().connect(
            Handshake(
                connection_id="Shortxxxxxxxxx=",
                connected_at_ms=CONNECTED_AT_MS,
                headers={},
                query={"token": make_token("alice")},
            )
        )
    finally:
        parameters.clear_caches()
        services.reset()
    assert result.status == 500
    assert result.refusal == "misconfigured"
    [record] = [r for r in caplog.records if r.getMessage() == "handshake failed: misconfigured"]
    assert "at least 32 bytes" in record.reason  # type: ignore[attr-defined]
    assert "short-secret" not in caplog.text


def test_no_token_source_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier()


def test_the_token_never_reaches_a_log_line(
    aws: None, lambda_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    good = make_token("alice")
    expired = make_token("alice", ttl=-600)
    connect(good, ctx=lambda_context)
    connect(expired, ctx=lambda_context)
    output = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "connected" in output  # the handler did log
    assert "handshake refused" in output
    assert good not in output
    assert expired not in output
    assert good.split(".")[2] not in output


def test_verifier_reports_the_reason() -> None:
    verifier = TokenVerifier(secret=SECRET)
    with pytest.raises(UnauthorizedError, match="expired"):
        verifier.verify(make_token("alice", ttl=-600))
    assert verifier.verify(make_token(None, userId=42)).user_id == "42"


# ---------------------------------------------------------------- the metrics it emits


def emf_documents(out: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents among a handler's stdout lines (the log lines are
    JSON too, without ``_aws``)."""
    docs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [doc for doc in docs if "_aws" in doc]


def counted(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, dimensions, total) of every metric in ``docs`` (a document holds a
    list of values for a metric added more than once, a number otherwise)."""
    out = []
    for doc in docs:
        [directive] = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Switchboard"
        [dimension_names] = directive["Dimensions"]
        dimensions = {name: doc[name] for name in dimension_names}
        for metric in directive["Metrics"]:
            value = doc[metric["Name"]]
            out.append(
                (metric["Name"], dimensions, sum(value) if isinstance(value, list) else value)
            )
    return out


def test_an_accepted_handshake_counts_connected(
    aws: None, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert connect(make_token("alice"), ctx=lambda_context)["statusCode"] == 200
    assert counted(emf_documents(capsys.readouterr().out)) == [
        ("Connected", {"service": "switchboard"}, 1)
    ]


@pytest.mark.parametrize(
    ("token", "origin", "reason"),
    [
        pytest.param(None, "https://myapp.vercel.app", Refusal.MISSING_TOKEN, id="missing"),
        pytest.param(make_token("alice", ttl=-600), None, Refusal.EXPIRED, id="expired"),
        pytest.param(
            make_token("alice", secret="w" * 32), None, Refusal.INVALID_TOKEN, id="bad-signature"
        ),
        pytest.param("not-a-jwt", None, Refusal.INVALID_TOKEN, id="malformed"),
        pytest.param(make_token("alice"), "https://evil.example", Refusal.ORIGIN, id="origin"),
    ],
)
def test_a_refused_handshake_counts_refused_under_its_reason(
    aws: None,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
    origin: str | None,
    reason: Refusal,
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://myapp.vercel.app")
    services.reset()
    services.store()
    capsys.readouterr()
    result = connect(token, origin=origin, ctx=lambda_context)
    assert result["statusCode"] == (403 if reason is Refusal.ORIGIN else 401)
    assert counted(emf_documents(capsys.readouterr().out)) == [
        ("Refused", {"service": "switchboard", "reason": reason.value}, 1)
    ]


def test_a_replayed_token_counts_refused_as_replayed(
    aws: None, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    token = make_token("alice", jti="count-me-twice")
    capsys.readouterr()
    connect(token, ctx=lambda_context)
    connect(token, ctx=lambda_context)
    assert counted(emf_documents(capsys.readouterr().out)) == [
        ("Connected", {"service": "switchboard"}, 1),
        ("Refused", {"service": "switchboard", "reason": "replayed"}, 1),
    ]


def test_a_handshake_that_failed_counts_neither_connected_nor_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from switchboard import telemetry
    from switchboard.lifecycle import HandshakeResult

    capsys.readouterr()
    telemetry.record_handshake(HandshakeResult(status=500, headers={}, reason="bug"))
    with pytest.warns(UserWarning, match="No application metrics"):
        telemetry.metrics.flush_metrics()
    assert counted(emf_documents(capsys.readouterr().out)) == []
