"""Read a SAM ``template.yaml`` into what the local gateway serves.

The gateway never hard-codes a route or a function: everything comes from the template, so a
route or function added there works locally with no change here. CloudFormation's short tags
(``!Ref``, ``!GetAtt``, ``!Sub``, ``!If``, ...) are parsed and resolved against parameter
defaults and a fixed set of local pseudo parameters; a ``!Ref`` to a resource resolves to its
logical id (the local table names are the logical ids). An SQS queue's ``!Ref`` (its URL)
resolves to its URL on the local SQS endpoint when one is given (``queue_endpoint``), else to
its logical id.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "Application",
    "FunctionSpec",
    "HttpRoute",
    "QueueSpec",
    "SqsEventSource",
    "TableSpec",
    "TemplateError",
    "WebSocketApiSpec",
    "load_application",
]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local0wsapi"
LOCAL_HTTP_API_ID = "local0httpa"

_NO_VALUE = object()


class TemplateError(ValueError):
    """The template cannot be served: a missing resource, an unsupported construct..."""


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


def queue_arn(name: str) -> str:
    """The ARN of the local queue named ``name``."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


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


# ---------------------------------------------------------------- YAML with CloudFormation tags


class _CfnLoader(yaml.SafeLoader):
    """A safe loader that turns ``!Tag value`` into ``{"Fn::Tag": value}``."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template")
    return data


# ---------------------------------------------------------------- intrinsic functions


class _Resolver:
    """Evaluates intrinsic functions with local values."""

    def __init__(
        self, template: Mapping[str, Any], stack_name: str, queue_endpoint: str | None = None
    ) -> None:
        self.resources: Mapping[str, Any] = template.get("Resources") or {}
        self.queue_endpoint = queue_endpoint
        self.conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self.parameters: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        for name, spec in (template.get("Parameters") or {}).items():
            default = (spec or {}).get("Default", "")
            self.parameters[name] = str(default) if isinstance(default, int | float) else default

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            kind = self.resources[name].get("Type", "")
            if kind == "AWS::Serverless::LayerVersion":
                return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"
            if kind in ("AWS::Serverless::WebSocketApi", "AWS::ApiGatewayV2::Api"):
                return LOCAL_API_ID
            if kind == "AWS::SQS::Queue":
                return self.queue_url(name)
            return name
        raise TemplateError(f"!Ref to an unknown name: {name}")

    def queue_name(self, name: str) -> str:
        """A queue's local name: its ``QueueName`` property, else its logical id."""
        properties = self.resources[name].get("Properties") or {}
        queue_name = properties.get("QueueName")
        return str(self.resolve(queue_name)) if queue_name is not None else name

    def queue_url(self, name: str) -> str:
        """A queue's URL on the local SQS endpoint (as moto's server writes it), or its
        logical id when no SQS runs (so that code can tell that no queue exists)."""
        if self.queue_endpoint is None:
            return name
        return f"{self.queue_endpoint.rstrip('/')}/{ACCOUNT_ID}/{self.queue_name(name)}"

    def get_att(self, name: str, attribute: str) -> str:
        if name not in self.resources:
            raise TemplateError(f"!GetAtt of an unknown resource: {name}")
        kind = self.resources[name].get("Type", "")
        if kind == "AWS::SQS::Queue":
            if attribute == "Arn":
                return queue_arn(self.queue_name(name))
            if attribute == "QueueUrl":
                return self.queue_url(name)
            if attribute == "QueueName":
                return self.queue_name(name)
        if attribute == "Arn":
            service = {
                "AWS::DynamoDB::Table": f"dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}",
                "AWS::Serverless::Function": f"lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
                "AWS::Logs::LogGroup": f"logs:{REGION}:{ACCOUNT_ID}:log-group:{name}",
            }.get(kind, f"local:{REGION}:{ACCOUNT_ID}:{name}")
            return f"arn:aws:{service}"
        return f"{name}.{attribute}"

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition: {name}")
        return self.truth(self.conditions[name])

    def truth(self, node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((key, value),) = node.items()
            if key == "Condition":
                return self.condition(value)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in value)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.truth(value[0])
            if key == "Fn::And":
                return all(self.truth(item) for item in value)
            if key == "Fn::Or":
                return any(self.truth(item) for item in value)
        raise TemplateError(f"not a condition: {node!r}")

    def select(self, node: Any) -> Any:
        """``node`` with every ``!If`` around it decided (the chosen branch, unresolved)."""
        while isinstance(node, dict) and set(node) == {"Fn::If"}:
            name, if_true, if_false = node["Fn::If"]
            node = if_true if self.condition(name) else if_false
        return node

    def resolve(self, node: Any) -> Any:
        """Resolve every intrinsic in ``node``; ``AWS::NoValue`` drops keys and items."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                return self.get_att(*value)
            if key == "Fn::Sub":
                return self.sub(value)
            if key == "Fn::If":
                return self.resolve(self.select(node))
            if key == "Fn::Join":
                separator, items = value
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key in ("Fn::ImportValue", "Fn::FindInMap", "Fn::GetAZs", "Fn::Base64"):
                return f"{key}-unresolved-locally"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def sub(self, value: Any) -> str:
        text, variables = (value, {}) if isinstance(value, str) else value
        variables = {key: self.resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


# ---------------------------------------------------------------- the application


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps merge (recursively), lists and scalars are replaced.

    ``Layers`` is the exception: SAM appends the function's layers to the global ones.
    """
    merged = dict(base)
    for key, value in override.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = _merge(merged[key], value)
        elif key == "Layers" and isinstance(merged.get(key), list) and isinstance(value, list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def _referenced_name(node: Any) -> str | None:
    """The logical id behind ``!Ref X``, ``!GetAtt X.Arn`` or ``!Sub ...${X.Arn}...``."""
    if isinstance(node, dict) and len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and isinstance(value, str):
            return value
        if key == "Fn::GetAtt":
            return str(value[0])
        if key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            found = re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", text)
            return found[0] if found else None
    return None


def _function_spec(
    name: str, properties: Mapping[str, Any], root: Path, resolver: _Resolver, raw: Any
) -> FunctionSpec:
    code_uri = properties.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{name}: only a local CodeUri directory can run locally")
    layer_dirs: list[Path] = []
    for layer in raw.get("Layers") or []:
        layer_name = _referenced_name(resolver.select(layer))
        resource = resolver.resources.get(layer_name or "")
        if resource is None:
            continue  # a published layer ARN: its code is not on this machine
        content = (resource.get("Properties") or {}).get("ContentUri")
        if isinstance(content, str):
            layer_dir = (root / content).resolve()
            # A layer built by hand keeps its packages under python/, as Lambda expects.
            layer_dirs.append(
                layer_dir / "python" if (layer_dir / "python").is_dir() else layer_dir
            )
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    environment = {key: str(value) for key, value in variables.items()}
    return FunctionSpec(
        name=name,
        code_dir=(root / code_uri).resolve(),
        handler=str(properties.get("Handler", "app.lambda_handler")),
        environment=environment,
        layer_dirs=tuple(layer_dirs),
        timeout=float(properties.get("Timeout", 3)),
        memory_size=int(properties.get("MemorySize", 128)),
        runtime=str(properties.get("Runtime", "python3.13")),
    )


def _websocket_api(resources: Mapping[str, Any], resolver: _Resolver) -> WebSocketApiSpec:
    found = [
        (name, resource)
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::WebSocketApi"
    ]
    if len(found) != 1:
        raise TemplateError("the template must define exactly one AWS::Serverless::WebSocketApi")
    name, resource = found[0]
    raw = resource.get("Properties") or {}
    properties = resolver.resolve(raw)
    routes: dict[str, str] = {}
    for route_key, route in (raw.get("Routes") or {}).items():
        function = _referenced_name((route or {}).get("FunctionArn"))
        if function is None or function not in resources:
            raise TemplateError(f"route {route_key}: FunctionArn must reference a function")
        routes[str(route_key)] = function
    return WebSocketApiSpec(
        name=name,
        stage=str(properties.get("StageName") or "$default"),
        route_selection_expression=str(
            properties.get("RouteSelectionExpression", "$request.body.action")
        ),
        routes=routes,
    )


def _table_spec(name: str, properties: Mapping[str, Any]) -> TableSpec:
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


def _queue_spec(name: str, resolver: _Resolver, properties: Mapping[str, Any]) -> QueueSpec:
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
    return QueueSpec(logical_id=name, name=resolver.queue_name(name), attributes=attributes)


def _sqs_event(
    function: str, raw: Mapping[str, Any], properties: Mapping[str, Any], resolver: _Resolver
) -> SqsEventSource:
    queue = _referenced_name(raw.get("Queue"))
    if queue is None or (resolver.resources.get(queue) or {}).get("Type") != "AWS::SQS::Queue":
        raise TemplateError(f"{function}: an SQS event's Queue must reference an AWS::SQS::Queue")
    scaling = properties.get("ScalingConfig") or {}
    maximum = scaling.get("MaximumConcurrency")
    return SqsEventSource(
        function=function,
        queue=queue,
        batch_size=int(properties.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(maximum) if maximum is not None else None,
        enabled=str(properties.get("Enabled", True)).lower() != "false",
    )


def load_application(
    template_path: Path,
    stack_name: str = "switchboard-local",
    *,
    queue_endpoint: str | None = None,
) -> Application:
    """Read ``template_path`` (relative paths in it are relative to its directory).

    ``queue_endpoint`` is the local SQS endpoint: a queue's ``!Ref`` and ``QueueUrl`` resolve
    to its URL there; without it, to the queue's logical id.
    """
    template_path = template_path.resolve()
    template = _read_yaml(template_path)
    root = template_path.parent
    resolver = _Resolver(template, stack_name, queue_endpoint)
    resources: Mapping[str, Any] = template.get("Resources") or {}
    globals_function = (template.get("Globals") or {}).get("Function") or {}

    functions: dict[str, FunctionSpec] = {}
    http_routes: list[HttpRoute] = []
    tables: list[TableSpec] = []
    queues: list[QueueSpec] = []
    sqs_events: list[SqsEventSource] = []
    unserved: list[tuple[str, str]] = []
    for name, resource in resources.items():
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            raw = _merge(globals_function, resource.get("Properties") or {})
            properties = resolver.resolve(raw)
            functions[name] = _function_spec(name, properties, root, resolver, raw)
            raw_events = raw.get("Events") or {}
            for event_name, event in (properties.get("Events") or {}).items():
                if event.get("Type") == "SQS":
                    raw_properties = (raw_events.get(event_name) or {}).get("Properties") or {}
                    sqs_events.append(
                        _sqs_event(name, raw_properties, event.get("Properties") or {}, resolver)
                    )
                elif event.get("Type") == "HttpApi":
                    event_properties = event.get("Properties") or {}
                    http_routes.append(
                        HttpRoute(
                            function=name,
                            method=str(event_properties.get("Method", "ANY")).upper(),
                            path=str(event_properties.get("Path", "$default")),
                        )
                    )
                elif event.get("Type") == "DynamoDB":
                    pass  # served by local_gateway.streams (the table's stream)
                else:
                    # Schedule, SNS, ...: not served locally.
                    unserved.append((name, str(event.get("Type"))))
        elif kind == "AWS::DynamoDB::Table":
            tables.append(_table_spec(name, resolver.resolve(resource.get("Properties") or {})))
        elif kind == "AWS::SQS::Queue":
            properties = resolver.resolve(resource.get("Properties") or {})
            queues.append(_queue_spec(name, resolver, properties))

    websocket_api = _websocket_api(resources, resolver)
    for route_key, function in websocket_api.routes.items():
        if function not in functions:
            raise TemplateError(f"route {route_key}: {function} is not a serverless function")
    source_dirs = sorted(
        {spec.code_dir for spec in functions.values()}
        | {layer for spec in functions.values() for layer in spec.layer_dirs}
    )
    return Application(
        template_path=template_path,
        websocket_api=websocket_api,
        functions=functions,
        http_routes=tuple(http_routes),
        tables=tuple(tables),
        source_dirs=tuple(source_dirs),
        unserved_events=tuple(unserved),
        queues=tuple(queues),
        sqs_events=tuple(sqs_events),
    )
