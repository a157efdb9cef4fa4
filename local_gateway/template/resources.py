"""What the gateway serves, as plain values: the specs of functions, routes, tables, queues,
SQS and DynamoDB event sources, and the :class:`Application` that holds them; and how a
CloudFormation table or queue becomes the arguments of ``CreateTable`` or ``CreateQueue``
locally.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_gateway.local_aws import queue_arn

__all__ = [
    "Application",
    "DynamoDbEventSource",
    "FunctionSpec",
    "HttpRoute",
    "QueueSpec",
    "SqsEventSource",
    "TableSpec",
    "WebSocketApiSpec",
    "queue_spec",
    "table_spec",
]


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function``, Globals merged, ready to run in a worker."""

    name: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    layer_dirs: tuple[Path, ...]
    timeout: float
    memory_size: int
    runtime: str


@dataclasses.dataclass(frozen=True)
class HttpRoute:
    """An ``HttpApi`` event source: ``method`` (upper case, ``ANY`` for all) and path template."""

    function: str
    method: str
    path: str

    @property
    def route_key(self) -> str:
        """The ``routeKey`` as API Gateway writes it (``$default`` for the catch-all)."""
        if self.path == "$default":
            return "$default"
        return f"{self.method} {self.path}"


@dataclasses.dataclass(frozen=True)
class WebSocketApiSpec:
    """The WebSocket API: its stage, route selection expression and routes."""

    name: str
    stage: str
    route_selection_expression: str
    routes: Mapping[str, str]  # route key -> function logical id


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """An ``AWS::DynamoDB::Table``, as ``CreateTable`` arguments plus its TTL attribute."""

    name: str
    create_table: Mapping[str, Any]
    ttl_attribute: str | None


@dataclasses.dataclass(frozen=True)
class QueueSpec:
    """An ``AWS::SQS::Queue``: its local name (``QueueName``, else the logical id) and the
    ``CreateQueue`` attributes that matter locally; ``RedrivePolicy`` names the dead-letter
    queue by its local ARN."""

    logical_id: str
    name: str
    attributes: Mapping[str, str]

    @property
    def arn(self) -> str:
        """The queue's ARN, as the embedded SQS names it."""
        return queue_arn(self.name)


@dataclasses.dataclass(frozen=True)
class SqsEventSource:
    """An ``SQS`` event of a function: which queue, how many records per invocation, whether
    the function reports partial batch failures, and its ``ScalingConfig.MaximumConcurrency``."""

    function: str
    queue: str  # the queue's logical id
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class DynamoDbEventSource:
    """A ``DynamoDB`` event of a function: which table's stream, and the event source
    mapping's settings that matter locally (``FilterCriteria`` as parsed patterns)."""

    function: str
    table: str  # the table's logical id (its local name)
    batch_size: int = 100
    batching_window: float = 0.0
    maximum_retry_attempts: int = -1  # -1: until the record expires (AWS's default)
    report_batch_item_failures: bool = False
    filters: tuple[Mapping[str, Any], ...] = ()
    starting_position: str = "LATEST"


@dataclasses.dataclass(frozen=True)
class Application:
    """Everything the gateway serves from one template."""

    template_path: Path
    websocket_api: WebSocketApiSpec
    functions: Mapping[str, FunctionSpec]
    http_routes: tuple[HttpRoute, ...]
    tables: tuple[TableSpec, ...]
    source_dirs: tuple[Path, ...]  # code and layer directories, for hot reload
    unserved_events: tuple[tuple[str, str], ...] = ()  # (function, event type), e.g. Schedule
    queues: tuple[QueueSpec, ...] = ()
    sqs_events: tuple[SqsEventSource, ...] = ()
    stream_events: tuple[DynamoDbEventSource, ...] = ()


def table_spec(name: str, properties: Mapping[str, Any]) -> TableSpec:
    """An ``AWS::DynamoDB::Table`` (its properties resolved) as ``CreateTable`` arguments."""
    create: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if create["BillingMode"] != "PAY_PER_REQUEST":
        create["ProvisionedThroughput"] = properties.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(key):
            indexes = [dict(index) for index in properties[key]]
            if create["BillingMode"] != "PAY_PER_REQUEST" and key == "GlobalSecondaryIndexes":
                for index in indexes:
                    index.setdefault("ProvisionedThroughput", create["ProvisionedThroughput"])
            create[key] = indexes
    if properties.get("StreamSpecification"):
        create["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    ttl = properties.get("TimeToLiveSpecification") or {}
    return TableSpec(
        name=name,
        create_table=create,
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled", False) else None,
    )


# CreateQueue attributes taken from an AWS::SQS::Queue's properties (encryption and policies
# do not matter locally).
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def queue_spec(name: str, local_name: str, properties: Mapping[str, Any]) -> QueueSpec:
    """An ``AWS::SQS::Queue`` (its properties resolved) named ``local_name`` locally."""
    attributes: dict[str, str] = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in properties:
            value = properties[key]
            attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
    redrive = properties.get("RedrivePolicy")
    if redrive:
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": str(redrive["deadLetterTargetArn"]),
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    return QueueSpec(logical_id=name, name=local_name, attributes=attributes)
