"""Token discovery, Origin checks, and RS256/ES256 against a real JWKS endpoint."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from switchboard.auth import TokenVerifier, VerifierSource, check_origin, find_token
from switchboard.config import Settings
from switchboard.errors import ConfigurationError, ForbiddenOriginError, UnauthorizedError
from tests.conftest import SECRET, make_token, run_with_layer


def test_token_from_the_query() -> None:
    found = find_token({"token": "t"}, {})
    assert (found.token, found.echo_subprotocol) == ("t", False)


def test_token_from_the_subprotocol_list() -> None:
    found = find_token(None, {"Sec-WebSocket-Protocol": "switchboard, abc.def.ghi"})
    assert (found.token, found.echo_subprotocol) == ("abc.def.ghi", True)


def test_subprotocol_offered_without_token_is_still_echoed() -> None:
    found = find_token({"token": "q"}, {"Sec-WebSocket-Protocol": "switchboard"})
    assert (found.token, found.echo_subprotocol) == ("q", True)


def test_no_token() -> None:
    found = find_token(None, {"Sec-WebSocket-Protocol": "chat, other"})
    assert (found.token, found.echo_subprotocol) == (None, False)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example", True),
        ("https://APP.example", True),
        ("https://app-pr-12-team.vercel.app", True),
        ("https://app-.evil-team.vercel.app", False),
        ("https://app-x-team.vercel.app.evil.com", False),
        ("https://app.example.evil.com", False),
        ("null", False),
    ],
)
def test_origin_patterns(origin: str, allowed: bool) -> None:
    patterns = ("https://app.example", "https://app-*-team.vercel.app/")
    if allowed:
        check_origin(origin, patterns)
    else:
        with pytest.raises(ForbiddenOriginError):
            check_origin(origin, patterns)


def test_no_allowlist_allows_every_origin() -> None:
    check_origin("https://anything.example", ())


# ---------------------------------------------------------------- JWKS (RS256/ES256)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    rsa_jwk.update(kid="rsa-1", alg="RS256", use="sig")
    ec_jwk.update(kid="ec-1", alg="ES256", use="sig")
    return {"keys": [rsa_jwk, ec_jwk]}


@contextlib.contextmanager
def serve_jwks() -> Iterator[str]:
    """A JWKS of RSA_KEY ("rsa-1") and EC_KEY ("ec-1") served on 127.0.0.1: its URL."""
    body = json.dumps(_jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    with serve_jwks() as url:
        yield url


def _claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "carol", "exp": int(time.time()) + 60, **extra}


def _verifier(url: str) -> TokenVerifier:
    return VerifierSource(Settings(jwks_url=url, token_audience="api"), lambda _s: None).get()


# Run in a fresh interpreter where `import cryptography` fails, as on a deployment
# without the crypto layer.
WITHOUT_CRYPTOGRAPHY = """
import sys
sys.modules["cryptography"] = None
from switchboard.auth import TokenVerifier
identity = TokenVerifier(secret=sys.argv[1]).verify(sys.argv[2])
print(identity.user_id, sys.modules["cryptography"] is None)
"""


def test_hs256_tokens_verify_without_cryptography() -> None:
    """The default layer has no `cryptography`: HS256 verification must not need it."""
    output = run_with_layer(WITHOUT_CRYPTOGRAPHY, SECRET, make_token("carol"))
    assert output == ["carol", "True"]


def test_a_jwks_url_without_cryptography_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HS256 deployments ship without the crypto layer; a JWKS URL then fails the cold
    start with a reason instead of refusing every token."""
    monkeypatch.setattr("switchboard.auth.has_crypto", False)
    with pytest.raises(ConfigurationError, match="crypto layer"):
        VerifierSource(Settings(jwks_url="https://issuer.example/jwks.json"), lambda _s: None)
    assert VerifierSource(Settings(), lambda _s: "x" * 32).get() is not None


def test_rs256_and_es256_from_the_jwks(jwks_url: str) -> None:
    verifier = _verifier(jwks_url)
    rs = jwt.encode(_claims(aud="api"), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(_claims(aud="api"), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier.verify(rs).user_id == "carol"
    assert verifier.verify(es).user_id == "carol"


def test_hs256_signed_with_the_public_key_is_refused(jwks_url: str) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
        + "."
        + b64(json.dumps(_claims(aud="api")).encode())
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(UnauthorizedError, match="algorithm not allowed"):
        _verifier(jwks_url).verify(f"{signing_input}.{b64(signature)}")


def test_unknown_kid_and_hs256_secret_tokens_are_refused(jwks_url: str) -> None:
    verifier = _verifier(jwks_url)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(aud="api"), other, algorithm="RS256", headers={"kid": "nope"})
    with pytest.raises(UnauthorizedError, match="no matching signing key"):
        verifier.verify(forged)
    wrong_key = jwt.encode(_claims(aud="api"), other, algorithm="RS256", headers={"kid": "rsa-1"})
    with pytest.raises(UnauthorizedError, match="bad signature"):
        verifier.verify(wrong_key)
    with pytest.raises(UnauthorizedError):
        verifier.verify(make_token("carol", aud="api"))
    with pytest.raises(UnauthorizedError, match="token header is not valid JSON"):
        verifier.verify("e30x.e30.e30")


def test_secret_is_read_through_the_loader_each_time() -> None:
    secrets = iter([SECRET, "another-secret-that-is-long-enough-000"])
    source = VerifierSource(Settings(), lambda _s: next(secrets))
    token = make_token("dave")
    assert source.get().verify(token).user_id == "dave"
    with pytest.raises(UnauthorizedError):
        source.get().verify(token)  # rotated: the old signature no longer verifies


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("a." + "b" * 4100 + ".c", id="compact-but-over-4096-characters"),
        pytest.param("a.b", id="two-parts"),
        pytest.param("a.b.c.d.e", id="jwe-shaped"),
        pytest.param("a.b.c d", id="space"),
        pytest.param("a.b.c\n", id="newline"),
    ],
)
def test_malformed_tokens_are_refused_before_any_decoding(
    token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchboard import auth

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("decoded a token that should have been refused first")

    monkeypatch.setattr(jwt, "decode", never)
    monkeypatch.setattr(jwt, "get_unverified_header", never)
    with pytest.raises(auth.UnauthorizedError):
        auth.TokenVerifier(secret="s" * 32).verify(token)


def test_a_key_whose_type_does_not_match_the_algorithm_is_401(jwks_url: str) -> None:
    """An ES256 token naming the RSA key's kid (and the reverse) is refused, never a 500."""
    verifier = _verifier(jwks_url)
    es_with_rsa_kid = jwt.encode(
        _claims(aud="api"), EC_KEY, algorithm="ES256", headers={"kid": "rsa-1"}
    )
    rs_with_ec_kid = jwt.encode(
        _claims(aud="api"), RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"}
    )
    for token in (es_with_rsa_kid, rs_with_ec_kid):
        with pytest.raises(UnauthorizedError, match="does not match"):
            verifier.verify(token)


def test_any_other_library_error_on_a_token_is_401(
    jwks_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever PyJWT or cryptography raise while checking a token, the answer is 401."""
    verifier = _verifier(jwks_url)
    token = jwt.encode(_claims(aud="api"), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    for error in (ValueError("Expecting a PEM-formatted key."), TypeError("x"), KeyError("k")):

        def failing(*_args: object, error: Exception = error, **_kwargs: object) -> None:
            raise error

        monkeypatch.setattr(jwt, "decode", failing)
        with pytest.raises(UnauthorizedError, match="invalid token"):
            verifier.verify(token)


def test_exactly_one_token_per_handshake() -> None:
    assert find_token({"token": "a"}, {}, {"token": ["a", "b"]}).count == 2
    assert find_token({"token": "a"}, {"Sec-WebSocket-Protocol": "switchboard, b"}).count == 2
    assert find_token({}, {"Sec-WebSocket-Protocol": "switchboard, b"}).count == 1
    assert find_token({"token": "a"}, {}, {"token": ["a"]}).count == 1
    assert find_token(None, None).count == 0


def test_the_query_token_is_the_single_valued_one_and_repeats_are_counted() -> None:
    """API Gateway's queryStringParameters holds the last ?token=, the multi-valued map
    every one: the token is the former, the count comes from the latter."""
    assert find_token({"token": "b"}, {}, {"token": ["a", "b"]}).token == "b"
    assert find_token({"token": "a"}, {}, {"token": ["<JWT>"]}) == find_token({"token": "a"}, {})
    assert find_token(None, {}, {"token": ["a"]}).token == "a"
