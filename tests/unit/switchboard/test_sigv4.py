"""The delivery engine's SigV4 against AWS's own artefacts.

1. AWS's Signature Version 4 test suite (tests/aws_artefacts/aws4_testsuite, vendored from
   botocore's sdist with its licence): every case of the request shape the engine signs
   gets the suite's Authorization header (its signature covers the canonical request and
   the string to sign) and its signed request's other headers.
2. A signed ``@connections`` post compared with the one botocore's own
   ``apigatewaymanagementapi`` client sends, for the same credentials, time and body: the
   request line, the body and every header SigV4 covers, byte for byte.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials

from devtools.management_server import ManagementServer, ManagementState
from switchboard.delivery import CachedKeySigV4Auth, DeliveryEngine
from tests.conftest import ROOT

SUITE = ROOT / "tests" / "aws_artefacts" / "aws4_testsuite"
# The suite's signing parameters (botocore's tests/unit/auth/test_sigv4.py)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TIMESTAMP = "20150830T123600Z"
CASES = sorted(p.parent for p in SUITE.rglob("*.req"))


def _read(case: Path, suffix: str) -> str:
    return (case / f"{case.name}{suffix}").read_text(encoding="utf-8").replace("\r", "")


def _parse(raw: str) -> tuple[str, str, dict[str, str], bytes]:
    """A ``.req``: method, path (spaces kept, as in get-space), headers, body."""
    head, _, body = raw.partition("\n\n")
    head = head.rstrip("\n")
    request_line, *header_lines = head.split("\n")
    method, rest = request_line.split(" ", 1)
    path = rest.removesuffix(" HTTP/1.1")
    headers = dict(line.split(":", 1) for line in header_lines)
    return method, path, headers, body.encode()


def test_the_suite_has_the_cases_the_engine_signs() -> None:
    names = {str(case.relative_to(SUITE)) for case in CASES}
    assert len(names) == 14
    assert {"get-vanilla", "post-vanilla", "post-sts-token/post-sts-header-before"} <= names


@pytest.mark.parametrize("case", [pytest.param(c, id=str(c.relative_to(SUITE))) for c in CASES])
def test_the_engine_signs_as_awss_sigv4_test_suite(case: Path) -> None:
    method, path, headers, body = _parse(_read(case, ".req"))
    assert set(headers) <= {"Host", "X-Amz-Date", "X-Amz-Security-Token"}  # the engine's shape
    assert headers["X-Amz-Date"] == TIMESTAMP
    creq = _read(case, ".creq")
    token = next(
        (
            line.split(":", 1)[1]
            for line in creq.split("\n")
            if line.startswith("x-amz-security-token:")
        ),
        None,
    )
    signer = CachedKeySigV4Auth(None, "service", "us-east-1")
    signed = signer.sign(
        method,
        headers["Host"],
        path,
        body,
        credentials=Credentials(ACCESS_KEY, SECRET_KEY, token).get_frozen_credentials(),
        timestamp=TIMESTAMP,
    )
    assert signed["Authorization"] == _read(case, ".authz")
    # and the other headers of the suite's signed request (its Authorization line is the
    # .authz file's, except in get-vanilla-with-session-token.sreq, which repeats
    # get-vanilla's signature: the .authz, derived from the .creq, is the suite's answer)
    _, _, signed_request, _ = _parse(_read(case, ".sreq"))
    for name, value in signed.items():
        if name != "Authorization":
            assert signed_request[name] == value
    assert set(signed) == set(signed_request) - {"Host"}


def test_a_changed_byte_changes_the_signature() -> None:
    """The comparison can fail: the suite's get-vanilla with another path does not match."""
    case = SUITE / "get-vanilla"
    signer = CachedKeySigV4Auth(None, "service", "us-east-1")
    signed = signer.sign(
        "GET",
        "example.amazonaws.com",
        "/x",
        b"",
        credentials=Credentials(ACCESS_KEY, SECRET_KEY).get_frozen_credentials(),
        timestamp=TIMESTAMP,
    )
    assert signed["Authorization"] != _read(case, ".authz")


# ---------------------------------------------------------------- botocore's own request

CREDENTIALS = Credentials("AKIDEXAMPLE", SECRET_KEY, "session-token+/=")
WHEN = datetime.datetime(2026, 12, 1, 21, 30, 5, tzinfo=datetime.UTC)
FRAME = b'{"type":"message","channel":"room:a","data":"\xc3\xa9","seq":7}'
CONNECTION_ID = "L0SM9cOFvHcCIhw="
SIGNED = ("host", "x-amz-date", "x-amz-security-token", "authorization")


@pytest.fixture
def server() -> Iterator[ManagementServer]:
    with ManagementServer(ManagementState()) as running:
        yield running


def _received(server: ManagementServer) -> dict[str, Any]:
    headers = server.state.headers[-1]
    return {
        "request line": server.state.request_lines[-1],
        "body": server.state.frames[CONNECTION_ID][-1],
        **{name: headers.get(name) for name in SIGNED},
        "content-length": headers.get("content-length"),
    }


def test_the_engines_post_is_botocores_byte_for_byte(
    server: ManagementServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = server.url  # .../dev
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: WHEN.replace(tzinfo=None))
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key,
        aws_session_token=CREDENTIALS.token,
        config=Config(retries={"total_max_attempts": 1}),
    )
    client.post_to_connection(ConnectionId=CONNECTION_ID, Data=FRAME)
    botocores = _received(server)

    engine = DeliveryEngine(endpoint, "eu-west-1", credentials=CREDENTIALS)
    monkeypatch.setattr(engine._clock, "timestamp", lambda: WHEN.strftime("%Y%m%dT%H%M%SZ"))
    engine.post(CONNECTION_ID, FRAME)
    engines = _received(server)
    engine.shutdown()

    assert engines == botocores
    assert botocores["request line"] == ("POST", "/dev/@connections/L0SM9cOFvHcCIhw%3D")
    assert botocores["body"] == FRAME
    assert botocores["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/eu-west-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
    )
