"""``python -m local_gateway``: serve template.yaml's WebSocket API on this machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import resource
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from local_gateway.dynamodb import create_tables, embedded_moto
from local_gateway.eventlog import EventLog
from local_gateway.faults import FaultError, Faults, parse_faults
from local_gateway.reload import watch
from local_gateway.server import Gateway
from local_gateway.settings import Settings, function_environment, load_env_vars
from local_gateway.sqs import EventSourcePoller, create_queues
from local_gateway.static import DevPages
from local_gateway.streams import LocalEvents
from local_gateway.template import Application, ParsedTemplate, load_application, parse_template
from local_gateway.workers import FunctionPool, Workers

__all__ = ["main", "run"]


def _client_host(host: str) -> str:
    """The address that local clients (and the functions) use to reach ``host``."""
    if host in ("", "localhost", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


async def run(
    settings: Settings, stop: asyncio.Event | None = None, faults: Faults | None = None
) -> None:
    """Serve until ``stop`` is set (or SIGINT/SIGTERM); ``faults`` (made from the settings
    by default) injects failures and counts them."""
    started = time.monotonic()
    faults = faults or Faults(settings.faults)
    template = parse_template(settings.template)
    log = EventLog(
        functions=not settings.quiet_functions,
        verbose=settings.verbose,
        compact=not settings.raw_function_logs,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    with contextlib.ExitStack() as resources:
        app, backends = _backends(resources, settings, template, faults)
        dynamodb, moto = backends.dynamodb, backends.moto
        workers = Workers()
        root = settings.static_root or app.template_path.parent
        gateway = Gateway(
            app,
            workers,
            log,
            idle_timeout=settings.idle_timeout,
            max_duration=settings.max_duration,
            dev_pages=DevPages(root, settings.ws_secret),
            faults=faults,
        )
        port = await gateway.start(settings.host, settings.port)
        base = f"{_client_host(settings.host)}:{port}"
        events = LocalEvents(app, dynamodb, workers.__getitem__, log)  # streams, TTL, EventBridge
        for name, spec in app.functions.items():
            environment = function_environment(
                spec,
                settings,
                management_endpoint=f"http://{base}",
                dynamodb_endpoint=dynamodb,
                sqs_endpoint=moto if app.queues else None,
            )
            environment.update(events.environment)
            workers.pools[name] = FunctionPool(
                spec, environment, settings.workers_per_function, log.function_output, faults
            )
        pollers = _pollers(
            app, backends, workers=workers, log=log, settings=settings, faults=faults
        )
        listening = time.monotonic() - started
        if settings.prewarm:
            await workers.prewarm()
        watcher = None
        if settings.watch:

            def reload(paths: list[str]) -> None:
                workers.recycle()
                shown = ", ".join(Path(path).name for path in paths[:3])
                more = f" (+{len(paths) - 3})" if len(paths) > 3 else ""
                log.event("RELOAD", "code changed", f"{shown}{more}", "workers recycled")

            roots = [*app.source_dirs, *([settings.hooks_path] if settings.hooks_path else [])]
            watcher = asyncio.create_task(watch(roots, reload))
        for poller in pollers:
            poller.start()
        events.start()
        _banner(log, settings, base=base, dynamodb=dynamodb, gateway=gateway, sqs=moto)
        for line in events.banner():
            log.line(line)
        log.line(
            f"Ready in {time.monotonic() - started:.2f}s (listening after {listening:.2f}s): "
            f"ws://{base}"
        )
        try:
            await stop.wait()
        finally:
            log.line("Stopping: closing connections and workers")
            if watcher is not None:
                watcher.cancel()
            await asyncio.gather(*(poller.close() for poller in pollers))
            await events.close()
            await gateway.close()
            await workers.close()


@dataclasses.dataclass(frozen=True)
class _Backends:
    dynamodb: str
    moto: str | None  # the embedded moto server, when one runs
    queue_urls: dict[str, str]  # logical id -> URL


def _backends(
    resources: contextlib.ExitStack, settings: Settings, template: ParsedTemplate, faults: Faults
) -> tuple[Application, _Backends]:
    """moto serves DynamoDB (unless DYNAMODB_ENDPOINT names another) and every SQS queue;
    the application is read from the template (parsed once) with the queues' local URLs, for
    ``!Ref Queue`` and ``!GetAtt Queue.QueueUrl``; then the tables and queues are created."""
    has_queues = template.has_resource_of_type("AWS::SQS::Queue")
    moto = None
    if not settings.dynamodb_endpoint or has_queues:
        moto = resources.enter_context(embedded_moto(faults.wsgi))
    dynamodb = settings.dynamodb_endpoint or moto
    assert dynamodb is not None
    app = load_application(template, queue_endpoint=moto if has_queues else None)
    create_tables(dynamodb, app.tables)
    queue_urls: dict[str, str] = {}
    if moto is not None and app.queues:
        queue_urls = create_queues(
            moto, app.queues, visibility_timeout=settings.sqs_visibility_timeout
        )
    return app, _Backends(dynamodb, moto, queue_urls)


def _pollers(
    app: Application,
    backends: _Backends,
    *,
    workers: Workers,
    log: EventLog,
    settings: Settings,
    faults: Faults,
) -> list[EventSourcePoller]:
    """An event source poller per enabled SQS event; at most MaximumConcurrency invocations
    at once (and no more than the function's workers, so records never wait for one)."""
    endpoint = backends.moto
    if endpoint is None:
        return []
    queues = {queue.logical_id: queue for queue in app.queues}
    pollers = []
    for source in app.sqs_events:
        if not source.enabled:
            continue
        concurrency = min(
            source.maximum_concurrency or settings.workers_per_function,
            settings.workers_per_function,
        )
        pollers.append(
            EventSourcePoller(
                source,
                queue=queues[source.queue],
                queue_url=backends.queue_urls[source.queue],
                endpoint=endpoint,
                pool=functools.partial(workers.__getitem__, source.function),
                log=log,
                concurrency=concurrency,
                faults=faults,
            )
        )
    return pollers


def _banner(
    log: EventLog,
    settings: Settings,
    *,
    base: str,
    dynamodb: str,
    gateway: Gateway,
    sqs: str | None,
) -> None:
    api = gateway.app.websocket_api
    shown = "localhost" if settings.host == "localhost" else _client_host(settings.host)
    url = f"ws://{shown}:{base.rpartition(':')[2]}"
    embedded = "" if settings.dynamodb_endpoint else " (embedded moto server)"
    routes = ", ".join(f"{key} -> {name}" for key, name in api.routes.items())
    lines = [
        f"Switchboard local gateway: {gateway.app.template_path.name}, stage {api.stage}",
        f"  WebSocket    {url}   (or {url}/{api.stage}); token: ?token=JWT or subprotocol",
        f"  Routes       {routes}  [selection: {api.route_selection_expression}]",
        f"  Management   http://{base}/@connections/{{connectionId}}",
        f"  DynamoDB     {dynamodb}{embedded}, tables: "
        + ", ".join(table.name for table in gateway.app.tables),
        "  Token        make token USER=alice [CHANNELS='room:*']"
        f"   or   curl 'http://{base}/dev/token?user=alice'",
        f'  Try          websocat "{url}?token=$(make -s token USER=alice)"',
    ]
    for route in gateway.app.http_routes:
        lines.append(f"  HTTP         {route.route_key} -> {route.function}")
    if sqs is not None and gateway.app.queues:
        lines.append(
            f"  SQS          {sqs} (embedded moto server), queues: "
            + ", ".join(queue.name for queue in gateway.app.queues)
        )
    for source in gateway.app.sqs_events:
        state = "" if source.enabled else "  [Enabled: false, not polled]"
        lines.append(
            f"  SQS events   {source.queue} -> {source.function} "
            f"[batch {source.batch_size}, concurrency {source.maximum_concurrency or 'default'}"
            f"{', ReportBatchItemFailures' if source.report_batch_item_failures else ''}]"
            f"{state}"
        )
    for function, kind in gateway.app.unserved_events:
        lines.append(f"  Not served   {kind} events of {function} (no local {kind})")
    if settings.faults.enabled:
        lines.append(f"  Faults       {settings.faults.describe()}  (local_gateway.faults)")
    if settings.idle_timeout != 600 or settings.max_duration != 7200:
        lines.append(
            f"  Timeouts     idle {settings.idle_timeout:g}s, maximum {settings.max_duration:g}s"
        )
    for line in lines:
        log.line(line)


def _raise_open_file_limit() -> None:
    """Lift the soft limit on open files to the hard one: each connection holds a socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m local_gateway", description=__doc__)
    parser.add_argument("--template", type=Path, help="default: template.yaml ($TEMPLATE)")
    parser.add_argument("--host", help="default: localhost ($HOST)")
    parser.add_argument("--port", type=int, help="default: 3001 ($PORT); 0 picks a free port")
    parser.add_argument("--idle-timeout", type=float, help="seconds (default: 600)")
    parser.add_argument("--max-duration", type=float, help="seconds (default: 7200)")
    parser.add_argument("--workers", type=int, dest="workers_per_function", help="per function")
    parser.add_argument("--env-vars", type=Path, help="a sam local --env-vars JSON file")
    parser.add_argument(
        "--sqs-visibility-timeout",
        type=int,
        help="seconds, for every queue (default: each queue's; $SQS_VISIBILITY_TIMEOUT)",
    )
    parser.add_argument("--static-root", type=Path, help="the directory holding clients/")
    parser.add_argument("--no-watch", action="store_false", dest="watch", default=None)
    parser.add_argument("--no-prewarm", action="store_false", dest="prewarm", default=None)
    parser.add_argument("--quiet-functions", action="store_true", default=None)
    parser.add_argument(
        "--raw-function-logs", action="store_true", default=None, help="whole JSON log lines"
    )
    parser.add_argument("--verbose", action="store_true", default=None, help="log @connections")
    parser.add_argument(
        "--faults", help="failures to inject, e.g. post_429=0.05,kill=0.01 ($FAULTS; see docs)"
    )
    args = vars(parser.parse_args(argv))
    if args["faults"] is not None:
        try:
            args["faults"] = parse_faults(args["faults"])
        except FaultError as exc:
            parser.error(str(exc))
    env_vars = args.pop("env_vars")
    if env_vars is not None:
        args["env_vars"] = load_env_vars(env_vars)
    try:
        settings = Settings.from_environment(**args)
    except FaultError as exc:
        sys.exit(f"local gateway: {exc}")
    _raise_open_file_limit()
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.exit(f"local gateway: {exc}")


if __name__ == "__main__":
    main()
