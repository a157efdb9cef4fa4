"""The Lambda runtime of one worker process (a local "container").

Started by :mod:`local_gateway.workers` as ``python -I runtime.py INIT_JSON``: ``-I`` keeps the
gateway's directory, ``PYTHONPATH`` and user site out of ``sys.path``, so the function sees
only its ``CodeUri`` directory, its layers and the installed packages, as on Lambda. The
handler is imported once (the init phase), then invoked once per request.

Wire protocol: one JSON object per line. Requests arrive on stdin; answers leave on the
process's original stdout, which is then pointed at stderr so that whatever the function
prints (Powertools' JSON logs, ``print``) reaches the gateway's log and never the protocol.

This module uses the standard library only: it runs inside the function's environment.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import warnings
from typing import Any, BinaryIO


class LambdaContext:
    """The context object that the Python runtime passes to a handler."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name: str = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version: str = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.memory_limit_in_mb: str = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id: str = request["aws_request_id"]
        self.log_group_name: str = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name: str = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity: object | None = None
        self.client_context: object | None = None
        self._deadline_ms: int = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_exception(exc),
    }


def _send(channel: BinaryIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str).encode() + b"\n")
    channel.flush()


def main() -> None:
    """Import the handler, then answer invocations until stdin closes."""
    init = json.loads(sys.argv[1])
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.dont_write_bytecode = bool(init.get("dont_write_bytecode"))
    hooks_path = os.environ.get("HOOKS_PATH")  # make dev's: the app's hooks, first
    sys.path[:0] = [*([hooks_path] if hooks_path else []), init["code_dir"], *init["layer_dirs"]]
    os.chdir(init["code_dir"])

    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").lower() == "true":
        # Metrics are off locally: Powertools' "no metrics to publish" warning is noise.
        warnings.filterwarnings("ignore", message="No application metrics to publish")

    module_name, _, function_name = init["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # the init error is the answer to the first invocation
        traceback.print_exception(exc)
        error_type = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else None
        _send(answers, {"init_error": _error(exc, error_type)})
        return
    _send(answers, {"ready": True})

    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            result = handler(request["event"], LambdaContext(request["context"]))
            _send(answers, {"result": result})
        except Exception as exc:
            traceback.print_exception(exc)
            _send(answers, {"error": _error(exc)})


if __name__ == "__main__":
    main()
