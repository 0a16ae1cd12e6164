"""The package graph: no two top-level packages import each other, and the layers hold.

The contracts are in pyproject.toml ([tool.importlinter]): gateway (the composition
root) > console > ivr | sms > prompts > messages > lookup > kernel | peers, the
kernel importing no component, and no package but gateway importing another's
service (its running component). import-linter reads every import statement, the
lazy ones inside functions too, without running the code.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_store

ROOT = Path(__file__).resolve().parent.parent
# In a child process: import-linter's console output and logging set-up stay out of
# the other tests' captured output and logs.
LINT = (
    "import sys; from importlinter.cli import lint_imports; "
    "sys.exit(lint_imports(no_cache=True, no_logo=True))"
)


def test_the_package_graph_keeps_its_layers_and_has_no_cycle() -> None:
    pytest.importorskip(
        "importlinter", reason="import-linter (dev extra): bash scripts/bootstrap install"
    )
    done = subprocess.run(
        [sys.executable, "-c", LINT],
        cwd=ROOT,  # the packages are found from the repository root, the contracts in pyproject
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_top_level_package_is_under_the_contracts() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}
    assert set(config["root_packages"]) == packages
