"""The deploy docs work as written: one secret-naming scheme across the template,
samconfig.toml, the README and the examples, and the README's numbers are the stack's."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.deploy import sam

DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "examples" / "nextjs" / "README.md",
]
SCHEME = "/switchboard/{stage}/ws-secret"


@pytest.mark.parametrize("env", list(sam.samconfig_envs()))
def test_each_environment_reads_the_secret_of_its_stage(env: str) -> None:
    params = sam.parameters(f"env:{env}")
    assert params["TokenSecretParameter"] == SCHEME.format(stage=params["StageName"])


def test_the_templates_default_secret_is_that_of_its_default_stage() -> None:
    params = sam.parameters("defaults")
    assert params["TokenSecretParameter"] == SCHEME.format(stage=params["StageName"])


def _readme_envs() -> dict[str, tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("| config env | stack | stage | token secret (SSM SecureString) |")[1]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \| `([^`]+)` \|$", table, re.M)
    return {env: (stack, stage, secret) for env, stack, stage, secret in rows}


def test_the_readmes_environment_table_is_samconfigs() -> None:
    expected = {
        env: (
            tables["global"]["parameters"]["stack_name"],
            sam.overrides(env)["StageName"],
            sam.overrides(env)["TokenSecretParameter"],
        )
        for env, tables in sam.samconfig_envs().items()
    }
    assert _readme_envs() == expected


def test_every_secret_the_docs_name_follows_the_scheme() -> None:
    # a literal name must be one some environment reads; a command uses $STAGE, prose <stage>
    read = {sam.overrides(env)["TokenSecretParameter"] for env in sam.samconfig_envs()}
    names = []
    for doc in DOCS:
        for name in re.findall(r"/?switchboard/[^\s`\"')]*ws-secret", doc.read_text()):
            names.append(name)
            stage = name.strip("/").split("/")[1]
            if stage in ("$STAGE", "<stage>", "<StageName>"):
                continue
            assert "/" + name.lstrip("/") in read, f"{doc.name}: {name}"
    assert '"/switchboard/$STAGE/ws-secret"' in (ROOT / "README.md").read_text()
    assert len(names) >= 5


def test_the_readmes_resource_count_is_the_stacks() -> None:
    text = (ROOT / "README.md").read_text()
    count = int(re.search(r"the change set \((\d+) resources with the defaults", text)[1])
    assert count == len(sam.deployed("env:default")["Resources"])
