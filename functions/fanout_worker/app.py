"""Fan-out worker: delivers the batches of connection ids a large publish put on SQS.

SQS event source with partial batch responses: a record that raises (a malformed batch,
or recipients still throttled after every follow-up) is reported alone, SQS retries it,
and its redrive policy moves it to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.container import Container
from switchboard.handlers import LambdaApp
from switchboard.telemetry import record_batch

app = LambdaApp(traced=False)
logger = app.logger
processor = BatchProcessor(event_type=EventType.SQS)


def deliver_batch(record: SQSRecord, box: Container) -> None:
    """Deliver one queued batch; raising reports this record alone as failed."""
    report = box.batch_worker().handle(record.body)
    logger.info("batch delivered", extra=report.as_dict())
    record_batch(report)


@app.raw
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, box: Container
) -> PartialItemFailureResponse:
    """Deliver every record of an SQS batch; answer which ones SQS should retry."""
    return process_partial_response(
        event=event,
        record_handler=lambda record: deliver_batch(record, box),
        processor=processor,
        context=context,
    )
