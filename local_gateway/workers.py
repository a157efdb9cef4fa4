"""Run each function in worker processes, as Lambda runs it in containers.

A :class:`FunctionPool` per function keeps up to ``size`` workers; each worker is one Python
process with the function's own environment (``os.environ``) and module namespace, its
handler imported once. An invocation takes an idle worker (or starts one: a cold start),
sends the event over a pipe, and waits for the answer within the function's timeout; a worker
that times out is killed, as Lambda does. :meth:`FunctionPool.recycle` retires every worker
so that the next event runs the code as it is now on disk (hot reload).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from local_gateway.faults import Faults
from local_gateway.template import ACCOUNT_ID, REGION, FunctionSpec

__all__ = ["FunctionPool", "InvocationError", "Workers"]

logger = logging.getLogger(__name__)

RUNTIME = Path(__file__).with_name("runtime.py")
PIPE_LIMIT = 64 * 1024 * 1024
INIT_TIMEOUT = 10.0  # Lambda's init phase limit


class InvocationError(Exception):
    """The function failed: it raised, timed out, or could not start."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        super().__init__(error.get("errorMessage", "function failed"))
        self.error = dict(error)

    @property
    def error_type(self) -> str:
        """Lambda's ``errorType`` (the exception class, ``Runtime.ImportModuleError``, ...)."""
        return str(self.error.get("errorType", "Error"))


LogSink = Callable[[str, str], None]


@dataclasses.dataclass(eq=False)
class _Worker:
    """One worker process: the Lambda runtime (``runtime.py``) running one function's handler."""

    process: asyncio.subprocess.Process
    generation: int
    log_task: asyncio.Task[None]
    ready: bool = False
    killed: bool = False

    @classmethod
    async def start(
        cls, spec: FunctionSpec, environment: Mapping[str, str], generation: int, log: LogSink
    ) -> _Worker:
        """Start the process; its stderr goes to ``log`` line by line."""
        init = {
            "code_dir": str(spec.code_dir),
            "layer_dirs": [str(path) for path in spec.layer_dirs],
            "handler": spec.handler,
            "dont_write_bytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            str(RUNTIME),
            json.dumps(init),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(environment),
            limit=PIPE_LIMIT,
            start_new_session=True,  # Ctrl-C reaches the gateway, which stops its workers
        )

        async def forward_logs() -> None:
            assert process.stderr is not None
            while line := await process.stderr.readline():
                log(spec.name, line.decode(errors="replace").rstrip())

        return cls(
            process=process, generation=generation, log_task=asyncio.create_task(forward_logs())
        )

    @property
    def alive(self) -> bool:
        # A killed worker is dead before the child is reaped: never reuse it.
        return not self.killed and self.process.returncode is None

    def kill(self) -> None:
        if self.alive:
            self.killed = True
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def read(self) -> dict[str, Any]:
        """The runtime's next answer (one JSON line), or the exit as an :class:`InvocationError`."""
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            code = await self.process.wait()
            raise InvocationError(
                {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: the worker exited with status {code}",
                }
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def read_ready(self) -> None:
        """Wait for the end of the init phase; an init error kills the worker and is raised."""
        if self.ready:
            return
        answer = await self.read()
        if "init_error" in answer:
            self.kill()
            raise InvocationError(answer["init_error"])
        self.ready = True

    async def reap(self) -> None:
        """Wait for the process to exit (killing it after 5 s) and for its last log lines."""
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.kill()
            await self.process.wait()
        await self.log_task


class FunctionPool:
    """Up to ``size`` warm workers for one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        size: int,
        log: LogSink,
        faults: Faults | None = None,
    ) -> None:
        self.spec = spec
        self.faults = faults or Faults()  # kills and freezes mid-invocation, when on
        self.environment = dict(environment)
        self.size = size
        self.log = log
        self.generation = 0
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._init_error: InvocationError | None = None
        self._available = asyncio.Condition()
        self._reaped: set[asyncio.Task[None]] = set()
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    async def _start(self) -> _Worker:
        return await _Worker.start(self.spec, self.environment, self.generation, self.log)

    async def _acquire(self) -> _Worker:
        """A warm worker: the first one free, whether released or newly started.

        An event that finds every worker busy starts one more (up to ``size``), as Lambda
        starts a container, but takes whichever is ready first: a busy worker that finishes
        before the cold start is over serves it, and the new worker stays warm for the next.
        """
        async with self._available:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive and worker.generation == self.generation:
                        self._busy.add(worker)
                        return worker
                    self._retire(worker)
                if self._init_error is not None:
                    error, self._init_error = self._init_error, None
                    raise error
                if self._closed:  # the gateway is stopping: no more cold starts
                    raise InvocationError(
                        {"errorType": "Runtime.ExitError", "errorMessage": "the gateway stopped"}
                    )
                if len(self._busy) + self._starting < self.size:
                    self._starting += 1
                    task = asyncio.create_task(self._spawn())
                    self._reaped.add(task)
                    task.add_done_callback(self._reaped.discard)
                await self._available.wait()

    async def _spawn(self) -> None:
        """Start a worker and run its init phase; it joins the idle ones, or reports its error."""
        worker: _Worker | None = None
        try:
            worker = await self._start()
            async with asyncio.timeout(INIT_TIMEOUT):
                await worker.read_ready()
        except (InvocationError, TimeoutError, OSError) as exc:
            if worker is not None:
                worker.kill()
            self._init_error = (
                exc
                if isinstance(exc, InvocationError)
                else InvocationError({"errorType": "Runtime.InitError", "errorMessage": str(exc)})
            )
            worker = None
        finally:
            self._starting -= 1
        async with self._available:
            if worker is not None and worker.generation == self.generation:
                self._idle.append(worker)
            elif worker is not None:
                self._retire(worker)  # the code changed (or the pool closed) meanwhile
            self._available.notify_all()

    async def _release(self, worker: _Worker) -> None:
        self._busy.discard(worker)
        if worker.alive and worker.generation == self.generation:
            self._idle.append(worker)
        else:
            self._retire(worker)
        async with self._available:
            self._available.notify()

    def _retire(self, worker: _Worker) -> None:
        if worker.process.stdin is not None and not worker.process.stdin.is_closing():
            worker.process.stdin.close()  # the runtime's loop ends, the process exits
        task = asyncio.create_task(worker.reap())
        self._reaped.add(task)
        task.add_done_callback(self._reaped.discard)

    def recycle(self) -> None:
        """Retire every worker: the next invocation starts one with the code now on disk."""
        self.generation += 1
        idle, self._idle = self._idle, []
        for worker in idle:
            self._retire(worker)

    async def prewarm(self) -> None:
        """Start one worker ahead of the first event, so that it does not pay the cold start."""
        try:
            worker = await self._acquire()
        except InvocationError:
            return  # reported again by the first event, with the traceback already printed
        await self._release(worker)

    async def close(self) -> None:
        """Stop every worker."""
        self._closed = True
        self.generation += 1
        async with self._available:
            self._available.notify_all()  # events waiting for a worker get the error
        for worker in [*self._idle, *self._busy]:
            self._retire(worker)
        self._idle.clear()
        # A cold start still under way retires its worker when it ends: a reap added while
        # waiting is waited for too (else the process outlives the gateway's event loop).
        while self._reaped:
            await asyncio.gather(*self._reaped, return_exceptions=True)

    # ------------------------------------------------------------ invocation

    async def invoke(self, event: Mapping[str, Any], request_id: str | None = None) -> Any:
        """Run the handler on ``event``; its return value, or :class:`InvocationError`."""
        request_id = request_id or str(uuid.uuid4())
        worker = await self._acquire()
        armed = None
        try:
            deadline = time.monotonic() + self.spec.timeout
            async with asyncio.timeout(self.spec.timeout):
                request = {
                    "event": event,
                    "context": {
                        "aws_request_id": request_id,
                        "deadline_ms": int((time.time() + deadline - time.monotonic()) * 1000),
                        "invoked_function_arn": (
                            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.spec.name}"
                        ),
                    },
                }
                assert worker.process.stdin is not None
                worker.process.stdin.write(json.dumps(request).encode() + b"\n")
                await worker.process.stdin.drain()
                armed = self.faults.arm(worker.process.pid, self.spec.name)
                answer = await worker.read()
        except TimeoutError:
            worker.kill()
            raise InvocationError(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": (
                        f"RequestId: {request_id} Error: Task timed out after "
                        f"{self.spec.timeout:.2f} seconds"
                    ),
                }
            ) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            worker.kill()
            raise InvocationError(
                {"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
            ) from None
        finally:
            if armed is not None:
                armed.cancel()
            await self._release(worker)
        if "error" in answer:
            raise InvocationError(answer["error"])
        return answer.get("result")


class Workers:
    """The pools of every function of the application."""

    def __init__(self, pools: Mapping[str, FunctionPool] | None = None) -> None:
        self.pools = dict(pools or {})

    def __getitem__(self, name: str) -> FunctionPool:
        return self.pools[name]

    def recycle(self) -> None:
        """Retire every worker of every function (hot reload)."""
        for pool in self.pools.values():
            pool.recycle()

    async def prewarm(self) -> None:
        """Start one worker per function."""
        await asyncio.gather(*(pool.prewarm() for pool in self.pools.values()))

    async def close(self) -> None:
        """Stop every worker."""
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
