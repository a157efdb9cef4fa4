"""Backend events: the tables' DynamoDB streams in, EventBridge events out.

A DynamoDB event source per table (connections, subscriptions, presence) with
``ReportBatchItemFailures``: the earliest record whose events EventBridge still refused
after retries is reported, and Lambda retries the shard from it (bisecting on errors,
then the on-failure destination). docs/events.md holds the events and their guarantee.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from switchboard import events
from switchboard.config import Env, Settings
from switchboard.errors import ConfigurationError
from switchboard.eventbus import EventBridgeBus
from switchboard.occupancy import DynamoDBOccupancy

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"switchboard"})
RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3})


@cache
def tables() -> events.Tables:
    """The three tables whose streams this function reads."""
    settings = Settings.from_env()
    return events.Tables(
        connections=settings.connections_table,
        subscriptions=settings.subscriptions_table,
        presence=settings.presence_table,
    )


@cache
def occupancy() -> DynamoDBOccupancy:
    """The channel states (one DynamoDB client per container)."""
    settings = Settings.from_env()
    states = os.environ.get(Env.CHANNEL_STATES_TABLE, "")
    if not states:
        raise ConfigurationError("CHANNEL_STATES_TABLE must name the channel states table")
    client = boto3.client(
        "dynamodb",
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint,
        config=RETRIES,
    )
    return DynamoDBOccupancy(
        client, states_table=states, subscriptions_table=settings.subscriptions_table
    )


@cache
def bus() -> EventBridgeBus:
    """The EventBridge bus (one client per container)."""
    name = os.environ.get(Env.EVENT_BUS_NAME, "")
    if not name:
        raise ConfigurationError("EVENT_BUS_NAME must name the EventBridge bus")
    client = boto3.client(
        "events",
        region_name=Settings.from_env().region,
        endpoint_url=os.environ.get(Env.EVENTS_ENDPOINT) or None,
        config=RETRIES,
    )
    return EventBridgeBus(client, name)


@logger.inject_lambda_context(log_event=False, clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Put the events of a batch of stream records; answer which record to retry from."""
    result = events.process(event.get("Records") or [], tables(), occupancy(), bus())
    logger.info(
        "events put",
        extra={
            "records": len(event.get("Records") or []),
            "events": [f"{e.type}" for e in result.events],
            "retry_from": result.failed,
        },
    )
    return result.response()
