"""B4: the DynamoDB calls of connect, subscribe, publish to N subscribers and disconnect.

Runs the real handlers on moto with the Management API fake of the tests, counts every
pynamodb call, and prints one JSON line (``python -m bench.dynamodb_calls``).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from moto import mock_aws


def count(subscribers: int) -> dict[str, Any]:
    """The calls per operation, in order."""
    from pynamodb.connection.base import Connection

    from functions.connect import app as connect_app
    from functions.default import app as default_app
    from functions.disconnect import app as disconnect_app
    from switchboard import services
    from switchboard.lifecycle import Handshake
    from switchboard.store import create_tables
    from tests.conftest import MANAGEMENT_ENDPOINT, ManagementApiFake, load_event, make_token

    class Context:
        function_name = "bench"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
        aws_request_id = "bench"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 10_000

    ctx = Context()
    calls: list[str] = []
    original = Connection._make_api_call

    def counting(self: Any, operation_name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(operation_name)
        return original(self, operation_name, *args, **kwargs)

    services.reset()
    with mock_aws():
        services.store()
        create_tables()
        ManagementApiFake().attach(services.sender(MANAGEMENT_ENDPOINT)._client)
        for n in range(subscribers):
            cid = f"SUB{n:05d}xxxxxx="
            services.connector().connect(
                Handshake(cid, int(time.time() * 1000), {}, {"token": make_token(f"u{n}")})
            )
            record = services.store().get_connection(cid)
            assert record is not None
            services.store().subscribe(record, "room:big")
        Connection._make_api_call = counting  # type: ignore[method-assign]
        operations: dict[str, list[str]] = {}

        def frame(body: dict[str, Any]) -> None:
            event = load_event("default_ping")
            event["body"] = json.dumps(body)
            default_app.lambda_handler(event, ctx)

        calls.clear()
        event = load_event("connect")
        event["queryStringParameters"] = {"token": make_token("alice")}
        connect_app.lambda_handler(event, ctx)
        operations["connect"] = list(calls)
        calls.clear()
        frame({"action": "subscribe", "channel": "room:big"})
        operations["subscribe"] = list(calls)
        calls.clear()
        frame({"action": "publish", "channel": "room:big", "data": 1})
        operations[f"publish to {subscribers + 1} subscribers"] = list(calls)
        calls.clear()
        disconnect_app.lambda_handler(load_event("disconnect"), ctx)
        operations["disconnect"] = list(calls)
        Connection._make_api_call = original  # type: ignore[method-assign]
    return {"subscribers": subscribers + 1, "operations": operations}


def main() -> None:
    """Print the counts as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(count(args.subscribers)))


if __name__ == "__main__":
    main()
