"""CloudFormation's intrinsic functions, evaluated with local values.

``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If`` (and the conditions ``Fn::Equals``, ``Fn::Not``,
``Fn::And``, ``Fn::Or``), ``Fn::Join``, ``Fn::Select``, ``Fn::Split`` are resolved against the
parameters' defaults and the local pseudo parameters (:mod:`local_gateway.local_aws`); a
``!Ref`` to a resource resolves to its logical id (the local table names are the logical ids),
except for layers (an ARN), the WebSocket API (the local API id) and SQS queues (their URL on
the local SQS endpoint when one is given, else their logical id). ``AWS::NoValue`` drops the
key or item that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from local_gateway.local_aws import ACCOUNT_ID, LOCAL_API_ID, REGION, queue_arn
from local_gateway.template.errors import TemplateError

__all__ = ["NO_VALUE", "Resolver", "referenced_name"]

NO_VALUE = object()  # AWS::NoValue, until the mapping or list holding it drops it


class Resolver:
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
            "AWS::NoValue": NO_VALUE,
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
            return [item for item in items if item is not NO_VALUE]
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
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

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


def referenced_name(node: Any) -> str | None:
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
