"""Read a SAM ``template.yaml`` into what the local gateway serves.

The gateway never hard-codes a route or a function: everything comes from the template, so a
route or function added there works locally with no change here. The reader is four steps,
one module each:

- :mod:`~local_gateway.template.yaml_tags`: YAML with CloudFormation's short tags
  (``!Ref``, ``!GetAtt``, ``!Sub``, ``!If``, ...), parsed once (:func:`parse_template`);
- :mod:`~local_gateway.template.intrinsics`: the intrinsic functions, resolved against
  parameter defaults and the local pseudo parameters (:mod:`local_gateway.local_aws`);
- :mod:`~local_gateway.template.sam`: SAM's semantics (``Globals``, layers, event sources,
  the WebSocket API's routes) and :func:`load_application`;
- :mod:`~local_gateway.template.resources`: the resulting plain values (:class:`Application`
  and its specs) and the local ``CreateTable``/``CreateQueue`` arguments.

Errors: :class:`TemplateError`.
"""

from __future__ import annotations

from local_gateway.local_aws import ACCOUNT_ID, LOCAL_API_ID, LOCAL_HTTP_API_ID, REGION, queue_arn
from local_gateway.template.errors import TemplateError
from local_gateway.template.intrinsics import Resolver
from local_gateway.template.resources import (
    Application,
    DynamoDbEventSource,
    FunctionSpec,
    HttpRoute,
    QueueSpec,
    SqsEventSource,
    TableSpec,
    WebSocketApiSpec,
)
from local_gateway.template.sam import load_application
from local_gateway.template.yaml_tags import ParsedTemplate, parse_template, read_yaml

__all__ = [
    "ACCOUNT_ID",
    "LOCAL_API_ID",
    "LOCAL_HTTP_API_ID",
    "REGION",
    "Application",
    "DynamoDbEventSource",
    "FunctionSpec",
    "HttpRoute",
    "ParsedTemplate",
    "QueueSpec",
    "Resolver",
    "SqsEventSource",
    "TableSpec",
    "TemplateError",
    "WebSocketApiSpec",
    "load_application",
    "parse_template",
    "queue_arn",
    "read_yaml",
]
