"""Metrics (CloudWatch EMF, namespace ``Switchboard``) shared by the handlers.

Every metric the handlers emit is named here, once: the template's dashboard shows them
by these names (tests/deploy/test_dashboard.py reads them from this module's output).
Each carries the ``service`` dimension Powertools adds from ``POWERTOOLS_SERVICE_NAME``;
``Refused`` also carries ``reason`` (a :class:`~switchboard.errors.Refusal` value). The
hooks' metrics carry ``FunctionName`` (the function's own, so that one stack's alarm counts
only its own functions) and ``HookErrors`` also ``hook`` (one of :data:`HOOK_POINTS`).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Protocol

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from switchboard.fanout import FanoutReport

if TYPE_CHECKING:
    from switchboard.errors import Refusal


class Handshake(Protocol):
    """What the count of a ``$connect`` reads (``lifecycle.HandshakeResult``; named by its
    attributes, so that telemetry, which the hooks count through, imports no handshake)."""

    @property
    def status(self) -> int: ...

    @property
    def refusal(self) -> Refusal | None: ...


NAMESPACE = "Switchboard"
metrics = Metrics(namespace=NAMESPACE)
logger = logging.getLogger(__name__)

CONNECTED = "Connected"
REFUSED = "Refused"
DISCONNECTED = "Disconnected"
PUBLISHED = "Published"
DELIVERED = "Delivered"
PRUNED = "Pruned"
DELIVERY_FAILED = "DeliveryFailed"
DELIVERY_RETRIES = "DeliveryRetries"
QUEUED = "Queued"  # recipients a publish handed to the fan-out queue
REQUEUED = "Requeued"  # recipients the fan-out worker put back on the queue
REASON_DIMENSION = "reason"
# docs/hooks.md: a hook that raised, returned what it may not, or could not run because the
# hooks module failed to import; one per failure, under its point
HOOK_ERRORS = "HookErrors"
HOOKS_IMPORT_FAILED = "HooksImportFailed"  # one per container whose hooks module failed
HOOK_DIMENSION = "hook"
FUNCTION_DIMENSION = "FunctionName"  # AWS_LAMBDA_FUNCTION_NAME, as Lambda sets it
HOOK_POINTS = ("connect", "subscribe", "publish", "rpc", "disconnect")


def _record_delivery(report: FanoutReport) -> None:
    metrics.add_metric(name=DELIVERED, unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name=PRUNED, unit=MetricUnit.Count, value=report.pruned)
    metrics.add_metric(name=DELIVERY_FAILED, unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(name=DELIVERY_RETRIES, unit=MetricUnit.Count, value=report.retries)


def record_publish(channel: str, report: FanoutReport) -> None:
    """Log a publish's delivery report and emit it as metrics."""
    logger.info("published", extra={"channel": channel, **report.as_dict()})
    metrics.add_metric(name=PUBLISHED, unit=MetricUnit.Count, value=1)
    _record_delivery(report)
    metrics.add_metric(name=QUEUED, unit=MetricUnit.Count, value=report.queued)


def record_batch(report: FanoutReport) -> None:
    """Emit what the fan-out worker did with one queued batch."""
    _record_delivery(report)
    metrics.add_metric(name=REQUEUED, unit=MetricUnit.Count, value=report.queued)


def record_handshake(result: Handshake) -> None:
    """Count an accepted handshake, or a refused one under its reason (a 500 without
    one, a bug logged with its traceback, is neither).

    A refusal is written at once as its own EMF document, so that its ``reason``
    dimension is not added to the other metrics of the invocation.
    """
    if result.status == 200:
        metrics.add_metric(name=CONNECTED, unit=MetricUnit.Count, value=1)
        return
    if result.refusal is None:
        return
    _count_alone(REFUSED, {REASON_DIMENSION: result.refusal.value})


def record_disconnect() -> None:
    """Count a ``$disconnect``."""
    metrics.add_metric(name=DISCONNECTED, unit=MetricUnit.Count, value=1)


def _count_alone(name: str, dimensions: dict[str, str]) -> None:
    """Count one ``name``, written at once as its own EMF document with the default
    dimensions and ``dimensions`` (which are then not added to the invocation's others)."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def _function_dimension() -> dict[str, str]:
    """The function's name (left out where no Lambda runs)."""
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    return {FUNCTION_DIMENSION: name} if name else {}


def record_hook_error(point: str) -> None:
    """Count a hook's failure at ``point`` (one of :data:`HOOK_POINTS`), written at once as
    its own EMF document: a failing hook answers, so the invocation succeeds and Lambda's
    ``Errors`` never sees it."""
    if point not in HOOK_POINTS:
        raise ValueError(f"not a hook point: {point!r}")
    _count_alone(HOOK_ERRORS, {**_function_dimension(), HOOK_DIMENSION: point})


def record_hooks_import_failed() -> None:
    """Count a container whose hooks module failed to import (once: it keeps the failure)."""
    _count_alone(HOOKS_IMPORT_FAILED, _function_dimension())
