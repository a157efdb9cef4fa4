"""Fan-out worker: delivers the batches of connection ids a large publish put on SQS.

SQS event source with partial batch responses: a record that raises (a malformed batch,
or recipients still throttled after every follow-up) is reported alone, SQS retries it,
and its redrive policy moves it to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import services
from switchboard.telemetry import metrics, record_batch

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
processor = BatchProcessor(event_type=EventType.SQS)
services.settings()


def record_handler(record: SQSRecord) -> None:
    """Deliver one queued batch; raising reports this record alone as failed."""
    report = services.batch_worker().handle(record.body)
    logger.info("batch delivered", extra=report.as_dict())
    record_batch(report)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Deliver every record of an SQS batch; answer which ones SQS should retry."""
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
