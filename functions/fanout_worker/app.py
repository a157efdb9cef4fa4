"""Fan-out worker: delivers the batches of connection ids a large publish put on SQS.

SQS event source with partial batch responses: a record that raises (a malformed batch,
or recipients still throttled after every follow-up) is reported alone, SQS retries it,
and its redrive policy moves it to the dead-letter queue.
"""

from __future__ import annotations

from switchboard.container import Container
from switchboard.handlers import LambdaApp
from switchboard.lambda_events import SqsRecord
from switchboard.telemetry import record_batch

app = LambdaApp(traced=False)
logger = app.logger


@app.sqs_batch
def lambda_handler(record: SqsRecord, box: Container) -> None:
    """Deliver one queued batch; raising reports this record alone as failed (SQS retries
    it), and when every record of the batch fails the invocation fails."""
    report = box.batch_worker().handle(record.body)
    logger.info("batch delivered", extra=report.as_dict())
    record_batch(report)
