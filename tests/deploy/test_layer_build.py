"""``sam build`` ships the app's hooks module (docs/hooks.md, "Packaging").

The documented way: put the module in ``layers/switchboard/`` next to the ``switchboard``
package; ``sam build``'s ``python3.13`` build of ``SwitchboardLayer`` copies that directory
into the layer's ``python/``, the directory Lambda puts on the functions' ``sys.path``.
This runs the real ``sam build`` (.tools/sam, as ``make sam-build``) of that one layer, on a
copy of the template and the layer with a hooks module added, then imports the module and
``switchboard`` from the built directory alone, in a fresh interpreter without
site-packages, and runs the module's registration through ``HookPoints.load``.

About 20 s on 2 shared cores (the layer's pinned requirements are pip-installed for arm64,
from the package registry, as ``make sam-build`` does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
MODULE_NAME = "app_hooks_shipped"
MODULE = '''"""A hooks module that the layer build must ship."""

from switchboard import hooks


@hooks.rpc("shipped")
def shipped(ctx, params):
    return {"user": ctx.user_id, "params": params}
'''

# Run by a bare interpreter (-S: no site-packages) with PYTHONPATH at the built python/.
CHECK = f"""
import json, sys
from switchboard import hooks
from switchboard.hook_points import HookPoints
from switchboard.hooks import Context

points = HookPoints.load({MODULE_NAME!r})
ctx = Context("conn-1", "alice", {{}}, None, _publish=None, _send_to_user=None)
print(json.dumps({{
    "result": points.call(ctx, "shipped", {{"n": 1}}),
    "methods": sorted(points.hooks.methods),
    "switchboard": hooks.__file__,  # a namespace package: its modules have files
    "module": sys.modules[{MODULE_NAME!r}].__file__,
}}))
"""


def python313() -> str:
    """The Python 3.13 that ``make sam-build`` puts on sam's PATH (scripts/find-python313)."""
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python313")], capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


def test_sam_build_ships_a_hooks_module_put_next_to_the_switchboard_package(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    layer = project / "layers" / "switchboard"
    project.mkdir()
    shutil.copy(ROOT / "template.yaml", project / "template.yaml")
    shutil.copytree(
        ROOT / "layers" / "switchboard", layer, ignore=shutil.ignore_patterns("__pycache__")
    )
    (layer / f"{MODULE_NAME}.py").write_text(MODULE)
    interpreter = python313()
    build = tmp_path / "build"

    command = [str(SAM), "build", "SwitchboardLayer", "--template", "template.yaml"]
    built = subprocess.run(
        [*command, "--build-dir", str(build)],
        cwd=project,
        env={
            **os.environ,
            "PATH": f"{Path(interpreter).parent}{os.pathsep}{os.environ['PATH']}",
            "SAM_CLI_TELEMETRY": "0",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr

    python_dir = build / "SwitchboardLayer" / "python"
    assert (python_dir / f"{MODULE_NAME}.py").read_text() == MODULE
    assert (python_dir / "switchboard" / "hooks.py").is_file()

    checked = subprocess.run(
        [interpreter, "-S", "-c", CHECK],
        cwd=tmp_path,  # not the repository: nothing but the built layer to import from
        env={"PYTHONPATH": str(python_dir), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    seen = json.loads(checked.stdout)
    assert seen["result"] == {"user": "alice", "params": {"n": 1}}
    assert seen["methods"] == ["shipped"]
    for name in ("switchboard", "module"):
        assert Path(seen[name]).resolve().is_relative_to(python_dir.resolve()), seen[name]
