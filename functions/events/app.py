"""Backend events: the tables' DynamoDB streams in, EventBridge events out.

A DynamoDB event source per table (connections, subscriptions, presence) with
``ReportBatchItemFailures``: the earliest record whose events EventBridge still refused
after retries is reported, and Lambda retries the shard from it (bisecting on errors,
then the on-failure destination). docs/events.md holds the events and their guarantee.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import events
from switchboard.container import Container
from switchboard.handlers import LambdaApp

app = LambdaApp()
logger = app.logger


@app.raw
def lambda_handler(
    event: dict[str, Any], _context: LambdaContext, box: Container
) -> dict[str, list[dict[str, str]]]:
    """Put the events of a batch of stream records; answer which record to retry from."""
    records = event.get("Records") or []
    result = events.process(records, box.event_tables(), box.occupancy(), box.event_bus())
    logger.info(
        "events put",
        extra={
            "records": len(records),
            "events": [f"{e.type}" for e in result.events],
            "retry_from": result.failed,
        },
    )
    return result.response()
