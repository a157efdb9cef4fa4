"""The delivery engine: ``@connections`` posts near the CPU floor of a Python process.

boto3's ``post_to_connection`` spends most of its CPU in per-call client machinery
(parameter validation, serialisation, event hooks, the response parser, its retry
handler) rather than on the wire. This engine makes the same signed request with:

* one keep-alive :mod:`urllib3` pool per endpoint and container (TLS verified against
  the CA bundle botocore uses, TCP keep-alive on, bounded at the fan-out concurrency);
* botocore's :class:`~botocore.auth.SigV4Auth`, with the derived signing key cached
  per secret, date, region and service (:class:`CachedKeySigV4Auth`), and the
  canonical request of this one request shape built directly (:meth:`sign`), checked
  against the stock signer in the tests;
* credentials from botocore's provider chain (the Lambda environment's key, secret and
  session token; refreshable credentials refresh themselves), frozen once per post.

Outcomes are those of :class:`switchboard.sender.Boto3Sender` (one table,
:func:`switchboard.sender.delivery_failure`): 410 raises
:exc:`ConnectionGoneError`; throttling (429), 5xx and transport errors raise a
retryable :exc:`DeliveryError`; 403 and 413 a final one. Retries with backoff are the
fan-out's (:mod:`switchboard.fanout`), as with the boto3 sender.
"""

from __future__ import annotations

import functools
import hmac
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.httpsession import get_cert_path
from botocore.utils import normalize_url_path
from urllib3.connection import HTTPConnection
from urllib3.exceptions import HTTPError

from switchboard.errors import ConnectionGoneError, DeliveryError
from switchboard.sender import delivery_failure

if TYPE_CHECKING:
    from switchboard.fanout import PostMany
    from switchboard.multiplex import Multiplexer, Request

SERVICE = "execute-api"
EMPTY_SHA256 = sha256(b"").hexdigest()


class CredentialSource(Protocol):
    """What botocore's credential provider returns (refreshable or not)."""

    def get_frozen_credentials(self) -> Any:
        """A consistent (access_key, secret_key, token) snapshot."""


def lambda_credentials() -> CredentialSource:
    """The credentials of this environment, as botocore's provider chain finds them.

    Lambda puts the function's role credentials in the environment, which is the chain's
    first provider, so that provider is asked alone first: the same credentials
    (refreshable when ``AWS_CREDENTIAL_EXPIRATION`` is set) without building a botocore
    session and its whole chain, about 7 ms of every cold start. Anywhere else (a
    container provider, a profile) the full chain runs.
    """
    from botocore.credentials import EnvProvider
    from botocore.exceptions import NoCredentialsError

    credentials = EnvProvider().load()
    if credentials is None:
        from botocore.session import get_session

        credentials = get_session().get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    return credentials


class CachedKeySigV4Auth(SigV4Auth):
    """botocore's SigV4 signer, deriving the signing key once per secret and day.

    The derived key depends only on the secret, the date, the region and the service,
    so four of the five HMACs of a signature are done once a day instead of per post.
    """

    def __init__(self, credentials: Any, service_name: str, region_name: str) -> None:
        super().__init__(credentials, service_name, region_name)
        self._parts = (region_name, service_name, "aws4_request")
        self._keys: dict[tuple[str, str], bytes] = {}
        self._scope_tail = f"/{region_name}/{service_name}/aws4_request"

    def signing_key(self, secret_key: str, datestamp: str) -> bytes:
        """The derived key for ``secret_key`` on ``datestamp`` (YYYYMMDD), cached."""
        cache_key = (secret_key, datestamp)
        key = self._keys.get(cache_key)
        if key is None:
            key = f"AWS4{secret_key}".encode()
            for part in (datestamp, *self._parts):
                key = hmac.new(key, part.encode(), sha256).digest()
            if len(self._keys) > 8:  # old days and rotated secrets
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def signature(self, string_to_sign: str, request: Any) -> str:
        """The signature, as botocore computes it, with the cached key."""
        credentials: Any = self.credentials
        key = self.signing_key(credentials.secret_key, request.context["timestamp"][0:8])
        return hmac.new(key, string_to_sign.encode(), sha256).hexdigest()

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        body: bytes,
        *,
        credentials: Any,
        timestamp: str,
        sign_payload: bool = True,
    ) -> dict[str, str]:
        """The headers that sign a request without query string, headers or checksum.

        The same canonical request and string to sign :meth:`add_auth` builds for an
        ``AWSRequest`` with no headers of its own, without building one.
        """
        canonical_path = quote(normalize_url_path(path), safe="/~")
        payload = (sha256(body).hexdigest() if body else EMPTY_SHA256) if sign_payload else ""
        headers = {"X-Amz-Date": timestamp}
        token = credentials.token
        if token:
            headers["X-Amz-Security-Token"] = token
            canonical_headers = (
                f"host:{host}\nx-amz-date:{timestamp}\nx-amz-security-token:{token}\n"
            )
            signed = "host;x-amz-date;x-amz-security-token"
        else:
            canonical_headers = f"host:{host}\nx-amz-date:{timestamp}\n"
            signed = "host;x-amz-date"
        canonical = f"{method}\n{canonical_path}\n\n{canonical_headers}\n{signed}\n{payload}"
        datestamp = timestamp[0:8]
        scope = datestamp + self._scope_tail
        to_sign = (
            f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        )
        key = self.signing_key(credentials.secret_key, datestamp)
        signature = hmac.new(key, to_sign.encode(), sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return headers


class _Clock:
    """The SigV4 timestamp, formatted at most once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""

    def timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._stamp = datetime.fromtimestamp(now, UTC).strftime(SIGV4_TIMESTAMP)
            self._second = now
        return self._stamp


class DeliveryEngine:
    """A :class:`~switchboard.sender.ManagementApi` that posts through one signed
    keep-alive urllib3 pool, and fans out on one thread (:meth:`post_many`)."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        *,
        credentials: CredentialSource | None = None,
        pool_size: int = 32,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        ca_certs: str | None = None,
    ) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self._prefix = f"{parts.path}/@connections/"
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        self._host = parts.hostname if port == default_port else f"{parts.hostname}:{port}"
        self._credentials = credentials if credentials is not None else lambda_credentials()
        self._signer = CachedKeySigV4Auth(None, SERVICE, region)
        self._clock = _Clock()
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        socket_options = [
            *HTTPConnection.default_socket_options,
            (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        ]
        self._pool: urllib3.HTTPConnectionPool
        if parts.scheme == "https":
            self._pool = urllib3.HTTPSConnectionPool(
                parts.hostname,
                port,
                maxsize=pool_size,
                block=True,
                timeout=self._timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                ca_certs=ca_certs or get_cert_path(True),
                socket_options=socket_options,
            )
        else:
            self._pool = urllib3.HTTPConnectionPool(
                parts.hostname,
                port,
                maxsize=pool_size,
                block=True,
                timeout=self._timeout,
                retries=False,
                socket_options=socket_options,
            )
        tls = None
        if parts.scheme == "https":
            tls = functools.partial(
                ssl.create_default_context, cafile=ca_certs or get_cert_path(True)
            )
        # The fan-out's multiplexer (and h11, about 5 ms to import) is made at the first
        # fan-out: the requests that only answer their own connection never load it.
        self._multiplexer_options: dict[str, Any] = {
            "host": parts.hostname,
            "port": port,
            "tls": tls,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "max_idle": max(pool_size, 1),
            "socket_options": socket_options,
        }
        self._multiplexer: Multiplexer | None = None
        self._multiplexer_lock = threading.Lock()

    @classmethod
    def for_endpoint(cls, endpoint: str, region: str, pool_size: int = 32) -> DeliveryEngine:
        """The container's engine for ``endpoint`` (its pool is created once)."""
        return engine_for(endpoint, region, pool_size)

    def post_many(
        self,
        connection_ids: Iterable[str],
        data: bytes,
        concurrency: int,
        pace: Callable[[], float] | None = None,
    ) -> Iterator[tuple[str, Exception | None]]:
        """Send ``data`` to each connection, ``concurrency`` posts in flight on this thread;
        yield each one's id and ``None`` (delivered) or the error :meth:`post` would raise
        (or, for one whose request could not be signed, what signing raised).

        Each request is signed just before it is sent; ``pace`` spaces their starts (see
        :meth:`Multiplexer.exchange`). Connections are kept for the next call; see
        :mod:`switchboard.multiplex`. An error from ``connection_ids`` itself propagates.
        """
        from switchboard.multiplex import Request, Response, TransportError

        framing = [("Host", self._host), ("Content-Length", str(len(data)))]

        def requests() -> Iterator[Request]:
            for connection_id in connection_ids:
                try:
                    path, signed = self._signed("POST", connection_id, data)
                except Exception as exc:  # e.g. a credential refresh that failed
                    yield Request(connection_id, error=exc)
                    continue
                yield Request(connection_id, "POST", path, [*framing, *signed.items()], data)

        exchange = self._fanout_multiplexer().exchange(requests(), concurrency, pace)
        for connection_id, result in exchange:
            if isinstance(result, TransportError):
                yield connection_id, DeliveryError(connection_id, result.code, retryable=True)
            elif not isinstance(result, Response):
                yield connection_id, result
            else:
                try:
                    _check(connection_id, result.status, result.headers.get)
                except (ConnectionGoneError, DeliveryError) as exc:
                    yield connection_id, exc
                else:
                    yield connection_id, None

    def _signed(self, method: str, connection_id: str, body: bytes) -> tuple[str, dict[str, str]]:
        """The ``@connections`` path of ``connection_id`` and the headers that sign it."""
        path = self._prefix + quote(connection_id, safe="-._~")
        headers = self._signer.sign(
            method,
            self._host,
            path,
            body,
            credentials=self._credentials.get_frozen_credentials(),
            timestamp=self._clock.timestamp(),
        )
        return path, headers

    def _request(self, method: str, connection_id: str, body: bytes) -> int:
        path, headers = self._signed(method, connection_id, body)
        try:
            response = self._pool.urlopen(
                method,
                path,
                body=body or None,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=self._timeout,
                preload_content=True,
                release_conn=True,
            )
        except HTTPError as exc:
            raise DeliveryError(connection_id, type(exc).__name__, retryable=True) from None
        status: int = response.status
        _check(connection_id, status, response.headers.get)
        return status

    def post(self, connection_id: str, data: bytes) -> None:
        """Send one frame; raises :exc:`ConnectionGoneError` or :exc:`DeliveryError`."""
        self._request("POST", connection_id, data)

    def posts_in_flight(self) -> PostMany:
        """:meth:`post_many`: the fan-out keeps its posts in flight on one thread."""
        return self.post_many

    def close(self, connection_id: str) -> None:
        """Close a connection from the server side (harmless if already gone)."""
        try:
            self._request("DELETE", connection_id, b"")
        except ConnectionGoneError:
            return

    def shutdown(self) -> None:
        """Close the pools' sockets (tests and benchmarks)."""
        self._pool.close()
        if self._multiplexer is not None:
            self._multiplexer.close()

    def _fanout_multiplexer(self) -> Multiplexer:
        with self._multiplexer_lock:
            if self._multiplexer is None:
                from switchboard.multiplex import Multiplexer

                self._multiplexer = Multiplexer(**self._multiplexer_options)
            return self._multiplexer


_engines: dict[tuple[str, str, int], DeliveryEngine] = {}
_engines_lock = threading.Lock()


def _check(connection_id: str, status: int, header: Callable[[str], str | None]) -> None:
    """Raise what a Management API answer means (:func:`~switchboard.sender.delivery_failure`)."""
    if status < 300:
        return
    error_type = header("x-amzn-errortype") or ""
    raise delivery_failure(connection_id, status, error_type.split(":", 1)[0] or None)


def engine_for(endpoint: str, region: str, pool_size: int = 32) -> DeliveryEngine:
    """The container's engine for ``endpoint`` (one pool per endpoint, created once)."""
    key = (endpoint.rstrip("/"), region, pool_size)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = DeliveryEngine(endpoint, region, pool_size=pool_size)
        return engine


def clear_engines() -> None:
    """Close and forget the cached engines (tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.shutdown()
        _engines.clear()
