"""YAML with CloudFormation's short tags: ``!Ref X`` is read as ``{"Ref": "X"}``,
``!GetAtt A.B`` as ``{"Fn::GetAtt": ["A", "B"]}``, every other ``!Tag v`` as
``{"Fn::Tag": v}``; nothing is resolved here (:mod:`~local_gateway.template.intrinsics` does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from local_gateway.template.errors import TemplateError

__all__ = ["ParsedTemplate", "parse_template", "read_yaml"]


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


def read_yaml(path: Path) -> dict[str, Any]:
    """The template document at ``path``, tags as intrinsic-function mappings."""
    with path.open(encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a template")
    return data


@dataclasses.dataclass(frozen=True)
class ParsedTemplate:
    """A template read once: its absolute path and its document (shared: do not change it)."""

    path: Path
    document: Mapping[str, Any]

    @property
    def resources(self) -> Mapping[str, Any]:
        """The ``Resources`` section (empty when absent)."""
        return self.document.get("Resources") or {}

    def has_resource_of_type(self, kind: str) -> bool:
        """Whether any resource is of type ``kind`` (e.g. ``AWS::SQS::Queue``)."""
        return any((resource or {}).get("Type") == kind for resource in self.resources.values())


def parse_template(path: Path) -> ParsedTemplate:
    """Read the template at ``path`` once; relative paths in it are relative to its directory."""
    path = path.resolve()
    return ParsedTemplate(path, read_yaml(path))
