"""One error table, walked along the class hierarchy, for frames, handshakes and HTTP."""

from __future__ import annotations

import pytest

from switchboard import errors
from switchboard.errors import ErrorAnswer, translate


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        pytest.param(errors.BadRequestError("b"), ErrorAnswer(400, "bad_request", "b"), id="bad"),
        pytest.param(
            errors.UnknownActionError("u"), ErrorAnswer(404, "unknown_action", "u"), id="unknown"
        ),
        pytest.param(
            errors.ForbiddenError("f"), ErrorAnswer(403, "forbidden", "f"), id="forbidden"
        ),
        pytest.param(errors.ConflictError("c"), ErrorAnswer(409, "conflict", "c"), id="conflict"),
        pytest.param(
            errors.PayloadTooLargeError("p"), ErrorAnswer(413, "payload_too_large", "p"), id="large"
        ),
        pytest.param(
            errors.RateLimitedError("r"), ErrorAnswer(429, "rate_limited", "r"), id="rate"
        ),
        pytest.param(
            errors.ChannelBusyError("busy"),
            ErrorAnswer(429, "rate_limited", "busy"),
            id="busy-by-mro",
        ),
        pytest.param(
            errors.ProtocolError("x"), ErrorAnswer(500, "internal", "x"), id="protocol-base"
        ),
        pytest.param(
            errors.UnauthorizedError("t"), ErrorAnswer(401, "unauthorized", "t"), id="401"
        ),
        pytest.param(
            errors.ForbiddenOriginError("o"), ErrorAnswer(403, "unauthorized", "o"), id="origin"
        ),
        pytest.param(
            errors.TokenReplayedError("j"), ErrorAnswer(403, "unauthorized", "j"), id="replayed"
        ),
        pytest.param(
            errors.ConfigurationError("secret"), ErrorAnswer(500, "internal", None), id="config"
        ),
        pytest.param(KeyError("bug"), ErrorAnswer(500, "internal", None), id="bug"),
    ],
)
def test_each_error_has_its_answer(error: Exception, answer: ErrorAnswer) -> None:
    assert translate(error) == answer
    assert translate(error).expected is (answer.message is not None)


def test_an_auth_errors_status_comes_from_the_table() -> None:
    assert errors.TokenReplayedError("again").status == 403
    assert errors.UnauthorizedError("no").status == 401
