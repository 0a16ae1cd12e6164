"""scripts/bootstrap and what it installs: the lock file, and bare `tracuu` on PATH."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.no_store

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "bash scripts/bootstrap lock"
# A dependency line of pyproject.toml: one quoted requirement, then maybe a comment.
DEPENDENCY_LINE = re.compile(r'^\s*"[^"]+",\s*(#.*)?$')


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _declared() -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    names = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        names += extra
    return [Requirement(text) for text in names]


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"requirements.lock: {line!r} is not pinned (name==version)"
        pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def test_every_dependency_is_pinned_in_the_lock_within_what_pyproject_allows() -> None:
    pins = _locked()
    for requirement in _declared():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # e.g. audioop-lts, only on Python 3.13+
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"{requirement.name} is in pyproject.toml but not in requirements.lock: "
            f"run `{REGENERATE}` and commit the lock"
        )
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's "
            f"{requirement}: run `{REGENERATE}`"
        )


def test_the_lock_is_what_this_venv_runs() -> None:
    """Bootstrap installs with `-c requirements.lock`: a venv that drifted from it
    (a hand-installed upgrade) would test other code than CI."""
    from importlib.metadata import PackageNotFoundError, version

    drifted = []
    for name, pinned in _locked().items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            drifted.append(f"{name} (not installed)")
            continue
        if installed != pinned:
            drifted.append(f"{name} {installed} (lock: {pinned})")
    assert not drifted, f"run `bash scripts/bootstrap install`: {', '.join(drifted)}"


def test_pyproject_minimums_fit_the_options_the_project_sets() -> None:
    by_name = {canonicalize_name(r.name): r for r in _declared()}
    # asyncio_default_fixture_loop_scope (tool.pytest.ini_options) exists since 0.24.
    assert not by_name["pytest-asyncio"].specifier.contains("0.23.8")
    assert by_name["pytest-asyncio"].specifier.contains("0.24.0")


def test_every_dependency_comment_names_its_own_package() -> None:
    """One dependency a line, its comment after it (openpyxl's once sat on asyncpg's line)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if DEPENDENCY_LINE.match(line)]
    assert len(lines) >= len(_declared())
    for line in lines:
        assert line.count("#") <= 1, f"two comments on one dependency line: {line}"


def test_bootstrap_puts_bare_tracuu_on_path(tmp_path: Path) -> None:
    """After `scripts/bootstrap install`, `tracuu` runs without activating the venv."""
    bin_dir = tmp_path / "bin"
    env = {**os.environ, "BOOTSTRAP_BIN_DIR": str(bin_dir)}
    done = subprocess.run(
        ["bash", "scripts/bootstrap", "install"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    link = bin_dir / "tracuu"
    assert link.resolve() == (ROOT / ".venv" / "bin" / "tracuu").resolve()
    # A PATH without the venv: only the link can answer to the bare name.
    path = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    help_text = subprocess.run(
        "tracuu --help",
        shell=True,
        env={"PATH": path, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: tracuu" in help_text.stdout
    assert f"{bin_dir} is not on PATH" in done.stderr  # the test's PATH lacks it: say so


def test_bootstrap_never_replaces_a_tracuu_that_is_not_its_link(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    other = bin_dir / "tracuu"
    other.write_text("#!/bin/sh\necho another tracuu\n")
    env = {**os.environ, "BOOTSTRAP_BIN_DIR": str(bin_dir)}
    done = subprocess.run(
        ["bash", "scripts/bootstrap", "install"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert other.read_text() == "#!/bin/sh\necho another tracuu\n"
    assert "is not ours, left alone" in done.stderr


def test_a_user_without_root_gets_tracuu_in_local_bin(tmp_path: Path) -> None:
    """Not root (here: `id -u` says 1000): ~/.local/bin, which Debian's ~/.profile puts
    on PATH at the next login; until then bootstrap says how to add it."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    fake_id = stubs / "id"
    fake_id.write_text('#!/bin/sh\n[ "$1" = "-u" ] && echo 1000 || exec /usr/bin/id "$@"\n')
    fake_id.chmod(0o755)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "BOOTSTRAP_BIN_DIR"}
    env.update(HOME=str(home), PATH=f"{stubs}{os.pathsep}{env['PATH']}")
    done = subprocess.run(
        ["bash", "scripts/bootstrap", "install"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    link = home / ".local" / "bin" / "tracuu"
    assert link.resolve() == (ROOT / ".venv" / "bin" / "tracuu").resolve()
    assert f'export PATH="{home}/.local/bin:$PATH"' in done.stderr
