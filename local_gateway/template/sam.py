"""SAM's semantics: ``Globals`` merged into each function, a function's layers, code and
event sources (``HttpApi``, ``SQS``, ``DynamoDB``; others are reported as not served), the
WebSocket API's routes, and :func:`load_application`, which turns a parsed template into an
:class:`~local_gateway.template.resources.Application`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_gateway.template import resources as specs
from local_gateway.template.errors import TemplateError
from local_gateway.template.intrinsics import Resolver, referenced_name
from local_gateway.template.yaml_tags import ParsedTemplate, parse_template

__all__ = ["load_application"]


def merge_properties(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals merge: maps merge (recursively), lists and scalars are replaced.

    ``Layers`` is the exception: SAM appends the function's layers to the global ones.
    """
    merged = dict(base)
    for key, value in override.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, dict):
            merged[key] = merge_properties(merged[key], value)
        elif key == "Layers" and isinstance(merged.get(key), list) and isinstance(value, list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged


def _function_spec(
    name: str, properties: Mapping[str, Any], root: Path, resolver: Resolver, raw: Any
) -> specs.FunctionSpec:
    code_uri = properties.get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{name}: only a local CodeUri directory can run locally")
    layer_dirs: list[Path] = []
    for layer in raw.get("Layers") or []:
        layer_name = referenced_name(resolver.select(layer))
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
    return specs.FunctionSpec(
        name=name,
        code_dir=(root / code_uri).resolve(),
        handler=str(properties.get("Handler", "app.lambda_handler")),
        environment=environment,
        layer_dirs=tuple(layer_dirs),
        timeout=float(properties.get("Timeout", 3)),
        memory_size=int(properties.get("MemorySize", 128)),
        runtime=str(properties.get("Runtime", "python3.13")),
    )


def _websocket_api(resources: Mapping[str, Any], resolver: Resolver) -> specs.WebSocketApiSpec:
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
        function = referenced_name((route or {}).get("FunctionArn"))
        if function is None or function not in resources:
            raise TemplateError(f"route {route_key}: FunctionArn must reference a function")
        routes[str(route_key)] = function
    return specs.WebSocketApiSpec(
        name=name,
        stage=str(properties.get("StageName") or "$default"),
        route_selection_expression=str(
            properties.get("RouteSelectionExpression", "$request.body.action")
        ),
        routes=routes,
    )


def _sqs_event(
    function: str, raw: Mapping[str, Any], properties: Mapping[str, Any], resolver: Resolver
) -> specs.SqsEventSource:
    queue = referenced_name(raw.get("Queue"))
    if queue is None or (resolver.resources.get(queue) or {}).get("Type") != "AWS::SQS::Queue":
        raise TemplateError(f"{function}: an SQS event's Queue must reference an AWS::SQS::Queue")
    scaling = properties.get("ScalingConfig") or {}
    maximum = scaling.get("MaximumConcurrency")
    return specs.SqsEventSource(
        function=function,
        queue=queue,
        batch_size=int(properties.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(maximum) if maximum is not None else None,
        enabled=str(properties.get("Enabled", True)).lower() != "false",
    )


def _dynamodb_event(
    function: str, raw: Mapping[str, Any], properties: Mapping[str, Any], resolver: Resolver
) -> specs.DynamoDbEventSource:
    table = referenced_name(raw.get("Stream"))
    if table is None or (resolver.resources.get(table) or {}).get("Type") != "AWS::DynamoDB::Table":
        raise TemplateError(f"{function}: a DynamoDB event's Stream must be a table's StreamArn")
    filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
    return specs.DynamoDbEventSource(
        function=function,
        table=table,
        batch_size=int(properties.get("BatchSize", 100)),
        batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
        maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        filters=tuple(json.loads(f["Pattern"]) for f in filters),
        starting_position=str(properties.get("StartingPosition", "LATEST")),
    )


def load_application(
    template: ParsedTemplate | Path,
    stack_name: str = "switchboard-local",
    *,
    queue_endpoint: str | None = None,
) -> specs.Application:
    """What ``template`` serves: a template parsed once (:func:`parse_template`), or a path
    to read (relative paths in it are relative to its directory).

    ``queue_endpoint`` is the local SQS endpoint: a queue's ``!Ref`` and ``QueueUrl`` resolve
    to its URL there; without it, to the queue's logical id.
    """
    parsed = template if isinstance(template, ParsedTemplate) else parse_template(template)
    document = parsed.document
    root = parsed.path.parent
    resolver = Resolver(document, stack_name, queue_endpoint)
    resources = parsed.resources
    globals_function = (document.get("Globals") or {}).get("Function") or {}

    functions: dict[str, specs.FunctionSpec] = {}
    http_routes: list[specs.HttpRoute] = []
    tables: list[specs.TableSpec] = []
    queues: list[specs.QueueSpec] = []
    sqs_events: list[specs.SqsEventSource] = []
    stream_events: list[specs.DynamoDbEventSource] = []
    unserved: list[tuple[str, str]] = []
    for name, resource in resources.items():
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function":
            raw = merge_properties(globals_function, resource.get("Properties") or {})
            properties = resolver.resolve(raw)
            functions[name] = _function_spec(name, properties, root, resolver, raw)
            raw_events = raw.get("Events") or {}
            for event_name, event in (properties.get("Events") or {}).items():
                raw_properties = (raw_events.get(event_name) or {}).get("Properties") or {}
                if event.get("Type") == "SQS":
                    sqs_events.append(
                        _sqs_event(name, raw_properties, event.get("Properties") or {}, resolver)
                    )
                elif event.get("Type") == "HttpApi":
                    event_properties = event.get("Properties") or {}
                    http_routes.append(
                        specs.HttpRoute(
                            function=name,
                            method=str(event_properties.get("Method", "ANY")).upper(),
                            path=str(event_properties.get("Path", "$default")),
                        )
                    )
                elif event.get("Type") == "DynamoDB":  # served by local_gateway.streams
                    stream_events.append(
                        _dynamodb_event(
                            name, raw_properties, event.get("Properties") or {}, resolver
                        )
                    )
                else:
                    # Schedule, SNS, ...: not served locally.
                    unserved.append((name, str(event.get("Type"))))
        elif kind == "AWS::DynamoDB::Table":
            tables.append(
                specs.table_spec(name, resolver.resolve(resource.get("Properties") or {}))
            )
        elif kind == "AWS::SQS::Queue":
            properties = resolver.resolve(resource.get("Properties") or {})
            queues.append(specs.queue_spec(name, resolver.queue_name(name), properties))

    websocket_api = _websocket_api(resources, resolver)
    for route_key, function in websocket_api.routes.items():
        if function not in functions:
            raise TemplateError(f"route {route_key}: {function} is not a serverless function")
    source_dirs = sorted(
        {spec.code_dir for spec in functions.values()}
        | {layer for spec in functions.values() for layer in spec.layer_dirs}
    )
    return specs.Application(
        template_path=parsed.path,
        websocket_api=websocket_api,
        functions=functions,
        http_routes=tuple(http_routes),
        tables=tuple(tables),
        source_dirs=tuple(source_dirs),
        unserved_events=tuple(unserved),
        queues=tuple(queues),
        sqs_events=tuple(sqs_events),
        stream_events=tuple(stream_events),
    )
