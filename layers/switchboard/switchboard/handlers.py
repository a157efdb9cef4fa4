"""The handlers' shared set-up: Powertools logging, tracing, metrics and event parsing.

Owns what every ``functions/<route>/app.py`` would otherwise repeat: one Powertools
``Logger`` (its configuration copied to the library's loggers), the tracer (no X-Ray SDK
import when tracing is off), the metrics flush, the event's view
(:mod:`switchboard.lambda_events`), and handing the handler this process's
:class:`~switchboard.container.Container`. A handler is then a
function of ``(event, container)`` that turns the event into one library call::

    app = LambdaApp()
    logger = app.logger

    @app.websocket
    def lambda_handler(event: WebSocketEvent, box: Container) -> dict[str, Any]:
        ...

The event is never logged (``$connect``'s holds the token, the HTTP API's a credential).

Nothing here is imported that a handler's hot path does not run: the SQS worker's partial
batch responses are answered by :meth:`LambdaApp.sqs_batch` (Powertools' ``BatchProcessor``
answers the same, but its module imports ``asyncio``, a quarter of the worker's cold start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import container
from switchboard.container import Container
from switchboard.lambda_events import HttpApiEvent, SqsRecord, WebSocketEvent
from switchboard.telemetry import metrics
from switchboard.tracing import handler_tracer

LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]
PartialBatchResponse = dict[str, list[dict[str, str]]]


class BatchFailedError(Exception):
    """Every record of an SQS batch failed: the invocation fails and SQS retries the batch
    (Powertools' ``BatchProcessingError``); ``errors`` holds each record's exception."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__(f"All records failed processing: {len(errors)} errors")
        self.errors = errors


class LambdaApp:
    """One function's logger, tracer and metrics, and its handler decorators."""

    def __init__(self, *, traced: bool = True) -> None:
        self.logger = Logger()
        self.tracer = handler_tracer() if traced else None  # no X-Ray SDK when tracing is off
        copy_config_to_registered_loggers(source_logger=self.logger, include={"switchboard"})
        container.current()  # a misconfiguration (e.g. a short WS_SECRET) fails the cold start

    def _wrap(self, handler: LambdaHandler) -> LambdaHandler:
        wrapped = metrics.log_metrics(handler)
        if self.tracer is not None:
            wrapped = self.tracer.capture_lambda_handler(wrapped, capture_response=False)
        inject = self.logger.inject_lambda_context(log_event=False, clear_state=True)
        return inject(wrapped)

    def websocket(
        self, handler: Callable[[WebSocketEvent, Container], dict[str, Any]]
    ) -> LambdaHandler:
        """A WebSocket route's handler, with ``connection_id`` on every log line."""

        def run(raw: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
            event = WebSocketEvent(raw)
            self.logger.append_keys(connection_id=event.request_context.connection_id)
            return handler(event, container.current())

        return self._wrap(run)

    def http(
        self,
        handler: Callable[[HttpApiEvent, LambdaContext, Container], dict[str, Any]],
    ) -> LambdaHandler:
        """An HTTP API handler."""

        def run(raw: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            return handler(HttpApiEvent(raw), context, container.current())

        return self._wrap(run)

    def sqs_batch(self, handler: Callable[[SqsRecord, Container], None]) -> LambdaHandler:
        """An SQS handler with partial batch responses (``ReportBatchItemFailures``): a record
        whose handler raises is listed alone in ``batchItemFailures``; when every record
        raised, the invocation fails (:class:`BatchFailedError`). As Powertools'
        ``process_partial_response`` with ``BatchProcessor(EventType.SQS)`` answers."""

        def run(event: dict[str, Any], _context: LambdaContext) -> PartialBatchResponse:
            box = container.current()
            records: list[dict[str, Any]] = event["Records"]
            failures: list[dict[str, str]] = []
            errors: list[Exception] = []
            for record in records:
                try:
                    handler(SqsRecord(record), box)
                except Exception as exc:  # reported for this record alone, SQS retries it
                    self.logger.debug("record failed", exc_info=True)
                    failures.append({"itemIdentifier": record["messageId"]})
                    errors.append(exc)
            if records and len(errors) == len(records):
                raise BatchFailedError(errors)
            return {"batchItemFailures": failures}

        return self._wrap(run)

    def raw(
        self, handler: Callable[[dict[str, Any], LambdaContext, Container], Any]
    ) -> LambdaHandler:
        """A handler of the event as Lambda passes it, whole."""

        def run(event: dict[str, Any], context: LambdaContext) -> Any:
            return handler(event, context, container.current())

        return self._wrap(run)
