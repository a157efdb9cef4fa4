"""The delivery engine and the boto3 sender, side by side, against a real HTTP server.

Both engines post over real sockets to a local server that answers as API Gateway's
``@connections`` does (410, 413, 429, 403), and must reach the same outcomes. The
engine's signature is checked against botocore's stock ``SigV4Auth``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials

from devtools.management_server import ManagementServer, ManagementState
from switchboard import delivery
from switchboard import sender as sender_module
from switchboard.delivery import CachedKeySigV4Auth, DeliveryEngine, engine_for
from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.fanout import Fanout
from switchboard.sender import Sender
from tests.conftest import run_with_layer

FRAME = b'{"type":"message","channel":"room","data":"hi","seq":1}'
STATIC = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
ENGINES = ["fast", "boto3"]


@pytest.fixture
def server() -> Iterator[ManagementServer]:
    with ManagementServer(ManagementState(require_signature=True)) as running:
        yield running


def make_sender(kind: str, endpoint: str, pool_size: int = 8) -> Sender:
    """The sender of ``kind`` (``fast`` or ``boto3``) for ``endpoint``."""
    if kind == "fast":
        return DeliveryEngine(endpoint, "us-east-1", credentials=STATIC, pool_size=pool_size)
    sender_module.clear_clients()
    return Sender.for_endpoint(endpoint, "us-east-1", pool_size=pool_size)


@pytest.fixture(params=ENGINES)
def sender(request: pytest.FixtureRequest, server: ManagementServer) -> Iterator[Sender]:
    out = make_sender(request.param, server.url)
    yield out
    if isinstance(out, DeliveryEngine):
        out.shutdown()
    sender_module.clear_clients()


# ------------------------------------------------------------------ signing


@pytest.mark.parametrize(
    ("token", "path"),
    [
        pytest.param("session-token", "/dev/@connections/abc%3D", id="with-session-token"),
        pytest.param(None, "/dev/@connections/abc%3D", id="without-token"),
        pytest.param("t", "/@connections/L0SM9cOFvHcCIhw%3D", id="no-stage"),
        pytest.param("t", "/prod/v1/@connections/a-b_c.d~e", id="custom-domain-path"),
    ],
)
def test_signature_is_botocores(
    token: str | None, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = Credentials("AKIDEXAMPLE", "secret/key+1", token)
    when = datetime.datetime(2026, 5, 17, 12, 30, 5)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: when)
    host = "abc123.execute-api.eu-west-1.amazonaws.com"
    stock = AWSRequest(method="POST", url=f"https://{host}{path}", data=FRAME)
    SigV4Auth(credentials, "execute-api", "eu-west-1").add_auth(stock)

    signer = CachedKeySigV4Auth(None, "execute-api", "eu-west-1")
    headers = signer.sign(
        "POST",
        host,
        path,
        FRAME,
        credentials=credentials.get_frozen_credentials(),
        timestamp="20260517T123005Z",
    )

    expected = {"Authorization", "X-Amz-Date"} | ({"X-Amz-Security-Token"} if token else set())
    assert set(headers) == expected
    for name in expected:
        assert headers[name] == stock.headers[name]


def test_the_cached_key_signer_signs_as_botocore_through_add_auth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    when = datetime.datetime(2026, 5, 17, 0, 0, 0)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: when)
    url = "https://abc.execute-api.us-east-1.amazonaws.com/dev/@connections/x%3D"
    stock, cached = (AWSRequest(method="POST", url=url, data=FRAME) for _ in range(2))
    SigV4Auth(STATIC, "execute-api", "us-east-1").add_auth(stock)
    signer = CachedKeySigV4Auth(STATIC, "execute-api", "us-east-1")
    signer.add_auth(cached)
    signer.add_auth(cached)  # the second time from the cache
    assert cached.headers["Authorization"] == stock.headers["Authorization"]


def test_the_derived_key_is_cached_per_secret_and_day() -> None:
    signer = CachedKeySigV4Auth(None, "execute-api", "us-east-1")
    key = signer.signing_key("secret", "20260517")
    assert signer.signing_key("secret", "20260517") is key
    assert signer.signing_key("secret", "20260518") != key
    assert signer.signing_key("rotated", "20260517") != key
    for day in range(10, 30):  # the cache stays small
        signer.signing_key("secret", f"202605{day}")
    assert len(signer._keys) <= 9


def test_refreshed_credentials_sign_the_next_post(server: ManagementServer) -> None:
    refreshes: list[str] = []

    def refresh() -> dict[str, str]:
        refreshes.append("x")
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
            hours=1 if len(refreshes) > 1 else 0
        )
        return {
            "access_key": f"AKID{len(refreshes)}",
            "secret_key": "secret",
            "token": f"token{len(refreshes)}",
            "expiry_time": expiry.isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, method="test")
    engine = DeliveryEngine(server.url, "us-east-1", credentials=credentials)
    engine.post("a=", FRAME)
    engine.shutdown()
    sent = server.state.headers[-1]
    assert sent["x-amz-security-token"] == "token2"
    assert "Credential=AKID2/" in sent["authorization"]


def test_credentials_come_from_the_lambda_environment(
    server: ManagementServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-env")
    engine = DeliveryEngine(server.url, "us-east-1")
    engine.post("a=", FRAME)
    engine.shutdown()
    sent = server.state.headers[-1]
    assert sent["x-amz-security-token"] == "token-from-env"
    assert "Credential=ASIAFROMENV/" in sent["authorization"]


def test_environment_credentials_need_no_botocore_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-env")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2099-01-01T00:00:00Z")

    def no_session() -> None:
        raise AssertionError("the provider chain was built")

    monkeypatch.setattr("botocore.session.get_session", no_session)
    credentials = delivery.lambda_credentials()
    assert isinstance(credentials, RefreshableCredentials)  # with an expiry, as the chain
    frozen = credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.token) == ("ASIAFROMENV", "token-from-env")


def test_without_environment_credentials_the_provider_chain_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    from_chain = Credentials("AKIDCHAIN", "secret-from-chain")

    class Chain:
        def get_credentials(self) -> Credentials:
            return from_chain

    monkeypatch.setattr("botocore.session.get_session", Chain)
    assert delivery.lambda_credentials() is from_chain


def test_no_credentials_anywhere_raises_botocores_no_credentials_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import NoCredentialsError

    class NoCredentials:
        def get_credentials(self) -> None:
            return None

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("botocore.session.get_session", NoCredentials)
    with pytest.raises(NoCredentialsError):
        delivery.lambda_credentials()


# ------------------------------------------------------------------ outcomes, both engines


def test_post_delivers_the_exact_bytes_signed(server: ManagementServer, sender: Sender) -> None:
    sender.post("abc=", FRAME)
    assert server.state.frames["abc="] == [FRAME]
    assert server.state.headers[-1]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")


def test_410_is_connection_gone(server: ManagementServer, sender: Sender) -> None:
    server.state.gone.add("old=")
    with pytest.raises(ConnectionGoneError) as info:
        sender.post("old=", FRAME)
    assert info.value.connection_id == "old="


@pytest.mark.parametrize(
    ("kind", "code", "retryable"),
    [
        pytest.param("throttle_once", "LimitExceededException", True, id="429"),
        pytest.param("forbidden", "ForbiddenException", False, id="403"),
    ],
)
def test_error_outcomes(
    server: ManagementServer, sender: Sender, kind: str, code: str, retryable: bool
) -> None:
    getattr(server.state, kind).add("c=")
    with pytest.raises(DeliveryError) as info:
        sender.post("c=", FRAME)
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert server.state.attempts["c="] == 1  # neither engine retries on its own


def test_413_is_final(server: ManagementServer, sender: Sender) -> None:
    with pytest.raises(DeliveryError) as info:
        sender.post("big=", b"x" * (128 * 1024 + 1))
    assert (info.value.code, info.value.retryable) == ("PayloadTooLargeException", False)


def test_close_deletes_and_is_harmless_when_gone(server: ManagementServer, sender: Sender) -> None:
    sender.close("a=")
    server.state.gone.add("b=")
    sender.close("b=")
    assert server.state.deleted == ["a="]


@pytest.mark.parametrize("kind", ["fast", "fast, threads", "boto3"])
def test_a_publish_to_1000_with_gone_and_throttled(server: ManagementServer, kind: str) -> None:
    """10% gone, 10% throttled once: every live one gets it exactly once, the gone pruned.

    ``fast`` is the engine as deployed (many posts in flight on one thread); ``fast,
    threads`` the engine's single posts from the thread pool, as boto3's are."""
    ids = [f"conn{n:05d}=" for n in range(1000)]
    gone, throttled = set(ids[:100]), set(ids[100:200])
    server.state.gone |= gone
    server.state.throttle_once |= throttled
    pruned: list[str] = []
    out = make_sender(kind.split(",", 1)[0], server.url, pool_size=16)
    post_many = out.post_many if kind == "fast" and isinstance(out, DeliveryEngine) else None
    fanout = Fanout(
        out.post, pruned.append, concurrency=16, sleep=lambda _s: None, post_many=post_many
    )

    report = fanout.deliver(iter(ids), FRAME)

    assert report.as_dict() == {"delivered": 900, "pruned": 100, "failed": 0}
    assert report.retries == 100
    assert sorted(pruned) == sorted(gone)
    assert dict(server.state.frames) == {cid: [FRAME] for cid in ids if cid not in gone}
    assert all(server.state.attempts[cid] == 2 for cid in throttled)
    assert server.state.connections <= 16  # one keep-alive pool, bounded


# ------------------------------------------------------------------ many posts in flight


def test_post_many_reaches_the_outcomes_post_does(server: ManagementServer) -> None:
    server.state.gone.add("gone=")
    server.state.throttle_once.add("slow=")
    server.state.forbidden.add("no=")
    engine = make_sender("fast", server.url)
    assert isinstance(engine, DeliveryEngine)
    ids = ["ok=", "gone=", "slow=", "no=", "a/b+c="]
    outcomes = dict(engine.post_many(iter(ids), FRAME, 3))
    engine.shutdown()
    assert set(outcomes) == set(ids)
    assert outcomes["ok="] is None
    assert outcomes["a/b+c="] is None
    assert isinstance(outcomes["gone="], ConnectionGoneError)
    slow, forbidden = outcomes["slow="], outcomes["no="]
    assert isinstance(slow, DeliveryError)
    assert isinstance(forbidden, DeliveryError)
    assert (slow.code, slow.retryable) == ("LimitExceededException", True)
    assert (forbidden.code, forbidden.retryable) == ("ForbiddenException", False)
    assert server.state.frames == {"ok=": [FRAME], "a/b+c=": [FRAME]}
    assert all(server.state.attempts[cid] == 1 for cid in ids)  # no retry of its own
    assert all(h["authorization"].startswith("AWS4-HMAC-SHA256 ") for h in server.state.headers)


def test_post_many_signs_as_botocore(server: ManagementServer) -> None:
    """The request on the wire verifies: botocore's stock SigV4Auth, given the same
    request and time, computes the same Authorization header."""
    engine = make_sender("fast", server.url)
    assert isinstance(engine, DeliveryEngine)
    list(engine.post_many(["a/b+c="], FRAME, 1))
    engine.shutdown()
    sent = server.state.headers[-1]
    when = datetime.datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ")
    stock = AWSRequest(method="POST", url=f"{server.url}/@connections/a%2Fb%2Bc%3D", data=FRAME)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: when)
        SigV4Auth(STATIC, "execute-api", "us-east-1").add_auth(stock)
    assert sent["authorization"] == stock.headers["Authorization"]
    assert sent["x-amz-security-token"] == STATIC.token
    assert server.state.frames["a/b+c="] == [FRAME]


def test_post_many_keeps_its_connections_bounded_and_alive(server: ManagementServer) -> None:
    engine = make_sender("fast", server.url, pool_size=8)
    assert isinstance(engine, DeliveryEngine)
    ids = [f"c{n:04d}=" for n in range(300)]
    assert all(error is None for _, error in engine.post_many(iter(ids), FRAME, 8))
    assert server.state.connections <= 8
    opened = server.state.connections
    assert all(error is None for _, error in engine.post_many(iter(ids), FRAME, 8))
    assert server.state.connections == opened  # the second fan-out reused them
    assert all(server.state.frames[cid] == [FRAME, FRAME] for cid in ids)
    engine.shutdown()


def test_post_many_replaces_connections_the_server_closed(server: ManagementServer) -> None:
    engine = make_sender("fast", server.url, pool_size=4)
    assert isinstance(engine, DeliveryEngine)
    assert all(e is None for _, e in engine.post_many([f"a{n}=" for n in range(20)], FRAME, 4))
    server.drop_connections()
    deadline = time.monotonic() + 5
    while any(not t.is_closing() for t in server.state.transports):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)  # the FINs reach the client
    outcomes = list(engine.post_many([f"b{n}=" for n in range(20)], FRAME, 4))
    engine.shutdown()
    assert [e for _, e in outcomes] == [None] * 20
    assert server.state.connections > 4


def test_post_many_sends_a_full_size_frame_whole(server: ManagementServer) -> None:
    frame = b"x" * (128 * 1024)
    engine = make_sender("fast", server.url)
    assert isinstance(engine, DeliveryEngine)
    outcomes = dict(engine.post_many([f"c{n}=" for n in range(6)], frame, 3))
    too_big = dict(engine.post_many(["d="], frame + b"x", 1))
    engine.shutdown()
    assert list(outcomes.values()) == [None] * 6
    assert all(server.state.frames[f"c{n}="] == [frame] for n in range(6))
    error = too_big["d="]
    assert isinstance(error, DeliveryError)
    assert (error.code, error.retryable) == ("PayloadTooLargeException", False)


def test_post_many_can_be_stopped_early(server: ManagementServer) -> None:
    engine = make_sender("fast", server.url)
    assert isinstance(engine, DeliveryEngine)
    results = engine.post_many(iter([f"c{n}=" for n in range(50)]), FRAME, 4)
    first = next(results)
    results.close()  # the requests still in flight are abandoned, their sockets closed
    assert first[1] is None
    assert [e for _, e in engine.post_many(["after="], FRAME, 1)] == [None]
    engine.shutdown()


def test_post_many_transport_errors_are_retryable() -> None:
    with ManagementServer() as stopped:
        url = stopped.url
    engine = DeliveryEngine(url, "us-east-1", credentials=STATIC, connect_timeout=1)
    outcomes = dict(engine.post_many(["a=", "b="], FRAME, 2))
    assert set(outcomes) == {"a=", "b="}
    for error in outcomes.values():
        assert isinstance(error, DeliveryError)
        assert (error.code, error.retryable) == ("NewConnectionError", True)


def test_post_many_times_out_a_silent_server() -> None:
    with ManagementServer(ManagementState(delay=2.0)) as server:
        engine = DeliveryEngine(server.url, "us-east-1", credentials=STATIC, read_timeout=0.2)
        started = time.monotonic()
        outcomes = dict(engine.post_many(["a=", "b=", "c="], FRAME, 2))
        elapsed = time.monotonic() - started
        engine.shutdown()
    assert elapsed < 1.5  # two rounds of 0.2 s, not the server's 2 s
    for error in outcomes.values():
        assert isinstance(error, DeliveryError)
        assert (error.code, error.retryable) == ("ReadTimeoutError", True)


# ------------------------------------------------------------------ transport


def test_transport_errors_are_retryable() -> None:
    with ManagementServer() as stopped:
        url = stopped.url
    engine = DeliveryEngine(url, "us-east-1", credentials=STATIC, connect_timeout=1)
    with pytest.raises(DeliveryError) as info:
        engine.post("a=", FRAME)
    assert info.value.retryable
    assert info.value.code in {"NewConnectionError", "ConnectTimeoutError"}


def test_a_5xx_without_error_type_is_retryable() -> None:
    class Failing(ManagementState):
        def answer(self, *_: Any) -> tuple[int, dict[str, str], bytes]:
            return 502, {}, b"bad gateway"

    with ManagementServer(Failing()) as server:
        engine = DeliveryEngine(server.url, "us-east-1", credentials=STATIC)
        with pytest.raises(DeliveryError) as info:
            engine.post("a=", FRAME)
        engine.shutdown()
    assert (info.value.code, info.value.retryable) == ("502", True)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_is_verified(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with ManagementServer(tls=context) as server:
        assert server.url.startswith("https://localhost:")
        trusted = DeliveryEngine(server.url, "us-east-1", credentials=STATIC, ca_certs=str(cert))
        trusted.post("a=", FRAME)
        assert dict(trusted.post_many(["m1=", "m2=", "m3="], FRAME, 2)) == dict.fromkeys(
            ["m1=", "m2=", "m3="]
        )
        trusted.shutdown()
        untrusted = DeliveryEngine(server.url, "us-east-1", credentials=STATIC)
        with pytest.raises(DeliveryError) as info:
            untrusted.post("b=", FRAME)
        (refused,) = dict(untrusted.post_many(["c="], FRAME, 1)).values()
        untrusted.shutdown()
    assert server.state.frames == {"a=": [FRAME], "m1=": [FRAME], "m2=": [FRAME], "m3=": [FRAME]}
    assert info.value.code == "SSLError"
    assert isinstance(refused, DeliveryError)
    assert (refused.code, refused.retryable) == ("SSLError", True)


# ------------------------------------------------------------------ container caching


def test_one_engine_per_endpoint_per_container(monkeypatch: pytest.MonkeyPatch) -> None:
    delivery.clear_engines()
    a = engine_for("https://a.execute-api.us-east-1.amazonaws.com/dev/", "us-east-1")
    b = DeliveryEngine.for_endpoint(
        "https://a.execute-api.us-east-1.amazonaws.com/dev", "us-east-1"
    )
    c = engine_for("https://b.execute-api.us-east-1.amazonaws.com/dev", "us-east-1")
    assert a is b
    assert a is not c
    assert a.endpoint == "https://a.execute-api.us-east-1.amazonaws.com/dev"
    delivery.clear_engines()


def test_a_bad_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        DeliveryEngine("ftp://x/dev", "us-east-1", credentials=STATIC)


LAZY_MULTIPLEXER = """
import sys
from botocore.credentials import Credentials
from switchboard.delivery import DeliveryEngine
engine = DeliveryEngine("https://abc.execute-api.us-east-1.amazonaws.com/dev", "us-east-1",
                        credentials=Credentials("a", "b"))
print("h11" in sys.modules, "switchboard.multiplex" in sys.modules)
"""


def test_the_fanout_multiplexer_is_loaded_at_the_first_fanout_only() -> None:
    """A request that only answers its own connection never imports h11 (cold start)."""
    assert run_with_layer(LAZY_MULTIPLEXER) == ["False", "False"]
