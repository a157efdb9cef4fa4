"""Metrics (CloudWatch EMF, namespace ``Switchboard``) shared by the handlers."""

from __future__ import annotations

import logging

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from switchboard.fanout import FanoutReport

NAMESPACE = "Switchboard"
metrics = Metrics(namespace=NAMESPACE)
logger = logging.getLogger(__name__)


def record_publish(channel: str, report: FanoutReport) -> None:
    """Log a publish's delivery report and emit it as metrics."""
    logger.info("published", extra={"channel": channel, **report.as_dict()})
    metrics.add_metric(name="Published", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Delivered", unit=MetricUnit.Count, value=report.delivered)
    metrics.add_metric(name="Pruned", unit=MetricUnit.Count, value=report.pruned)
    metrics.add_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=report.failed)
    metrics.add_metric(name="DeliveryRetries", unit=MetricUnit.Count, value=report.retries)
