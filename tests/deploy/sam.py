"""template.yaml as CloudFormation receives it: the SAM translator's output, once per session.

The translator (aws-sam-translator, pinned in requirements/sam.txt) lives in .tools/sam's
virtualenv, so it runs there, once, for every variant at a time (about 2 s); tests read
the JSON it prints. Variants: the template's defaults, each ``samconfig.toml``
environment's ``parameter_overrides``, and the parameter sets that change what is granted
(Secrets Manager, JWKS, the alarm's e-mail, the events' bus, the webhook, a hooks module).
"""

from __future__ import annotations

import json
import shlex
import subprocess
import tomllib
from functools import cache
from typing import Any

from local_gateway.template import Resolver
from tests.conftest import ROOT

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "switchboard"
EXTRA_VARIANTS: dict[str, dict[str, str]] = {
    "secrets-manager": {"TokenSecretParameter": "", "TokenSecretId": "switchboard/dev/ws-secret"},
    "jwks": {
        "TokenSecretParameter": "",
        "JwksUrl": "https://issuer.example/.well-known/jwks.json",
    },
    "alarm-email": {"AlarmEmail": "ops@example.com"},
    "alarm-topic": {"AlarmTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"},
    # backend events on the app's own bus, and the webhook (docs/events.md)
    "event-bus": {"EventBusName": "apps-bus"},
    "webhook": {
        "WebhookUrl": "https://app.example/api/switchboard-events",
        "WebhookSecret": "webhook-secret-for-the-rehearsal-0123456789",
    },
    # the app's hooks (docs/hooks.md): ctx.publish and ctx.send_to_user at every hook point
    "hooks": {"HooksModule": "app_hooks"},
    "hooks-alarm-email": {"HooksModule": "app_hooks", "AlarmEmail": "ops@example.com"},
}


def samconfig_envs() -> dict[str, dict[str, Any]]:
    """``samconfig.toml``'s environments: name -> its tables (global, deploy, ...)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return {name: value for name, value in config.items() if isinstance(value, dict)}


def overrides(env: str) -> dict[str, str]:
    """The parameters ``sam deploy --config-env env`` passes (``parameter_overrides``)."""
    text = samconfig_envs()[env].get("deploy", {}).get("parameters", {})
    pairs = shlex.split(text.get("parameter_overrides", ""))
    return dict(pair.split("=", 1) for pair in pairs)


def variants() -> dict[str, dict[str, str]]:
    """Every parameter set the rehearsal transforms the template with."""
    out: dict[str, dict[str, str]] = {"defaults": {}}
    out.update({f"env:{env}": overrides(env) for env in samconfig_envs()})
    out.update(EXTRA_VARIANTS)
    return out


@cache
def transformed_all() -> dict[str, dict[str, Any]]:
    """Each variant's transformed template (the translator runs once per session)."""
    result = subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "tests" / "deploy" / "translate.py")],
        input=json.dumps(variants()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return out


def transformed(variant: str = "defaults") -> dict[str, Any]:
    """One variant's transformed template (a shared object: do not change it)."""
    return transformed_all()[variant]


def parameters(variant: str) -> dict[str, Any]:
    """The parameter values of a variant: the template's defaults, then its overrides."""
    template = transformed(variant)
    values = {
        name: spec.get("Default", "") for name, spec in template.get("Parameters", {}).items()
    }
    values.update(variants()[variant])
    return values


_DROP = object()


def _decide(node: Any, resolver: Resolver) -> Any:
    """``node`` with every ``Fn::If`` decided and ``AWS::NoValue`` dropped; other
    intrinsics are kept as they are (a test reads ``Fn::GetAtt`` as a logical id)."""
    if isinstance(node, list):
        items = [_decide(item, resolver) for item in node]
        return [item for item in items if item is not _DROP]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return _DROP
    if set(node) == {"Fn::If"}:
        return _decide(resolver.select(node), resolver)
    decided = {key: _decide(value, resolver) for key, value in node.items()}
    return {key: value for key, value in decided.items() if value is not _DROP}


@cache
def deployed(variant: str = "defaults") -> dict[str, Any]:
    """What CloudFormation creates for a variant: its transformed template with the
    conditions decided (resources whose ``Condition`` is false are left out)."""
    template = transformed(variant)
    resolver = Resolver(template, STACK)
    resolver.parameters.update(variants()[variant])
    resources = {
        name: _decide(resource, resolver)
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    return {**template, "Resources": resources}


def main() -> None:
    """Write each variant's transformed template to the directory named on the command
    line, for ``make template-check`` (cfn-lint and checkov read them there)."""
    import sys
    from pathlib import Path

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.json"):
        stale.unlink()
    for variant, template in transformed_all().items():
        (out / f"{variant.replace(':', '-')}.json").write_text(json.dumps(template, indent=1))


if __name__ == "__main__":
    main()
