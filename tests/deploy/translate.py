"""Transform template.yaml with AWS's SAM translator, offline (run by .tools/sam's Python).

Reads ``{"name": {"Param": "value", ...}, ...}`` as JSON on stdin and prints
``{"name": <the transformed CloudFormation template>, ...}``: what CloudFormation's
``AWS::Serverless-2016-10-31`` transform makes of the template with those parameters
(the defaults for the rest) in us-east-1. Local ``CodeUri`` and
``ContentUri`` become ``s3://`` locations first, as ``sam package`` makes them; no
managed policy is named by the template, so no IAM call is made.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

# The translator asks a boto3 session for the region (no call is made).
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
# What CloudFormation's hosted transform knows besides the parameters: the region and its
# partition (the pseudo parameters SAM's translator itself adds); the stack name and the
# account stay references, resolved by CloudFormation.
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws"}


class NoManagedPolicies:
    """The translator's managed policy loader, offline: the template names none."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as ``sam package`` uploads it: code locations in S3."""
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = "s3://rehearsal-artifacts/" + properties[key].strip("/")
    return template


def main() -> None:
    template = packaged(yaml_parse((ROOT / "template.yaml").read_text()))
    variants: dict[str, dict[str, str]] = json.load(sys.stdin)
    out = {
        name: transform(copy.deepcopy(template), {**PSEUDO, **params}, NoManagedPolicies())  # type: ignore[arg-type]
        for name, params in variants.items()
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
