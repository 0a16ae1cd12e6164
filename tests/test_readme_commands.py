"""Every command the README shows works as written after the Quick start.

The fenced ```sh blocks are what a newcomer copies: each `tracuu …` line there is
parsed by the real command-line parser, and the quick, safe ones are run exactly
as written, with bare `tracuu` on PATH (as scripts/bootstrap leaves it), in README
order, in a scratch folder laid out like the repository (so `var/tracuu.sqlite3`
and `samples/…` mean what they say). Commands that need a running demo, a real
SMSC, a recording or Docker are parsed only. Every `tracuu …` written inline in
the prose is parsed too. A README edit that drifts from the code fails here.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.cli import build_parser

pytestmark = pytest.mark.sqlite_only(
    "the README's commands as written, on the SQLite file they name"
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")

# Run for real (subcommand path -> exit status the README documents); the rest of
# the fenced tracuu commands are parsed only, for the reason given.
RUN = {
    ("db", "init"): 0,
    ("demo-data",): 0,
    ("lookup",): 0,
    ("import",): 1,  # the sample export has rejected rows: "exit 1 when a row was rejected"
    ("prompts", "render"): 0,  # offline espeak-ng placeholders, seconds (bootstrap installs it)
    ("call",): 0,
    ("sms", "reply"): 0,
    ("sms", "text"): 0,
    ("reminders", "run"): 0,
    ("sms", "outbox"): 0,
}
# Inline commands of the prose run for real too, after the walk-through (the prompts
# are rendered by then, so `prompts status` has nothing missing: exit 0).
INLINE_RUN = {
    ("prompts", "export-script"): 0,
    ("prompts", "versions"): 0,
    ("prompts", "status"): 0,
}
PARSE_ONLY = {
    ("call", "--server"): "dials the running demo",
    ("sms", "send-test"): "needs a real SMSC",
}
# Shell commands that are not tracuu: what each is checked against.
OTHER_COMMANDS = (
    "bash", "cp", "echo", "docker-compose", ".venv/bin/python", ".venv/bin/tracuu", "python",
)  # fmt: skip


@dataclass(frozen=True)
class Command:
    line: str  # as written
    argv: tuple[str, ...]  # shell words, without comments and redirections


def _words(line: str) -> tuple[str, ...]:
    words = shlex.split(line, comments=True)
    for i, word in enumerate(words):
        if word in (">", ">>", "|", "2>", "&&", ";"):
            return tuple(words[:i])
    return tuple(words)


def fenced_commands() -> list[Command]:
    commands = []
    for language, body in FENCED.findall(README):
        assert language in ("sh", ""), f"README code block in {language!r}: mark shell as sh"
        if language != "sh":
            continue
        for line in body.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(Command(line.strip(), _words(line)))
    return commands


def inline_commands() -> list[Command]:
    prose = FENCED.sub("", README)
    found = []
    for span in INLINE.findall(prose):
        text = " ".join(span.split())
        if text.startswith(("tracuu ", "python -m ", "bash scripts/", ".venv/bin/")):
            found.append(Command(text, _words(text)))
    return found


def _subcommand(argv: tuple[str, ...]) -> tuple[str, ...]:
    """('sms', 'reply') for `tracuu sms reply …`: the words before the first option."""
    path = []
    for word in argv[1:3]:
        if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        path.append(word)
    return tuple(path)


def _parse(argv: tuple[str, ...]) -> tuple[argparse.Namespace | None, str]:
    """Parse as `tracuu` would: (namespace, "") or (None, argparse's complaint)."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        try:
            return build_parser().parse_args(list(argv[1:])), ""
        except SystemExit:
            return None, errors.getvalue()


def _bootstrap_verbs() -> set[str]:
    text = (ROOT / "scripts" / "bootstrap").read_text(encoding="utf-8")
    usage = re.search(r"usage: scripts/bootstrap ([a-z|]+)", text)
    assert usage is not None
    return set(usage[1].split("|"))


def _check_other(command: Command) -> None:
    """A non-tracuu command: check what it names exists."""
    first = command.argv[0]
    assert first in OTHER_COMMANDS, (
        f"README command {command.line!r}: add how to check it to tests/test_readme_commands.py"
    )
    if first == "bash" and command.argv[1] == "scripts/bootstrap":
        assert command.argv[2] in _bootstrap_verbs(), command.line
    elif first == "cp":
        assert (ROOT / command.argv[1]).is_file(), command.line
    elif first == "docker-compose" and "tracuu" in command.argv[2:]:
        inner = command.argv[command.argv.index("tracuu", 3) :]  # exec <service> tracuu …
        namespace, complaint = _parse(inner)
        assert namespace is not None, f"{command.line}: {complaint}"
    elif first == "python" and command.argv[1] == "-m":
        assert importlib.util.find_spec(command.argv[2]) is not None, command.line
    elif first == ".venv/bin/python":
        assert (ROOT / command.argv[1]).is_file(), command.line
    elif first == ".venv/bin/tracuu":  # what bootstrap links onto PATH
        assert (Path(sys.executable).parent / "tracuu").is_file(), command.line


def test_the_readme_shows_commands_at_all() -> None:
    fenced = [c for c in fenced_commands() if c.argv[0] == "tracuu"]
    assert len(fenced) >= 15
    assert ("tracuu", "import", "samples/hoso-mau.xlsx") in {c.argv for c in fenced}


@pytest.mark.parametrize("command", fenced_commands(), ids=lambda c: c.line[:60])
def test_every_fenced_command_parses_as_written(command: Command) -> None:
    if command.argv[0] != "tracuu":
        _check_other(command)
        return
    namespace, complaint = _parse(command.argv)
    assert namespace is not None, f"README: {command.line!r}: {complaint}"


@pytest.mark.parametrize("command", inline_commands(), ids=lambda c: c.line[:60])
def test_every_inline_command_names_what_exists(command: Command) -> None:
    """Prose may name a command without its arguments (`tracuu lookup` exits 0 when…):
    a missing argument is fine there, an unknown command or option is not."""
    if command.argv[0] != "tracuu":
        _check_other(command)
        return
    if "…" in command.line:
        return  # "tracuu …": any command
    namespace, complaint = _parse(command.argv)
    if namespace is None:
        assert "the following arguments are required" in complaint, (
            f"README: {command.line!r}: {complaint}"
        )


def _scratch_checkout(tmp_path: Path) -> Path:
    """A folder like the repository's: what the README's paths point at, nothing else."""
    here = tmp_path / "tracuu"
    here.mkdir()
    for name in ("samples", "tracuu.example.toml"):
        (here / name).symlink_to(ROOT / name)
    return here


def _newcomer_env(home: Path) -> dict[str, str]:
    """A shell after bootstrap: this install's tracuu first on PATH, no TRACUU_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACUU_")}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["HOME"] = str(home)
    return env


@pytest.mark.slow
def test_the_quick_safe_commands_run_as_written_in_readme_order(tmp_path: Path) -> None:
    here = _scratch_checkout(tmp_path)
    env = _newcomer_env(tmp_path)
    ran = []
    walk = [(c, RUN) for c in fenced_commands()] + [(c, INLINE_RUN) for c in inline_commands()]
    for command, expected in walk:
        if command.argv[0] != "tracuu":
            continue
        path = _subcommand(command.argv)
        if any(command.argv[1 : 1 + len(k)] == k for k in PARSE_ONLY) or path not in expected:
            continue
        done = subprocess.run(
            ["bash", "-c", command.line],  # exactly as written, bare `tracuu` from PATH
            cwd=here,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr, f"{command.line}\n{done.stderr}"
        assert done.returncode == expected[path], (
            f"README: {command.line!r} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        ran.append(command.line)
    assert (here / "var" / "tracuu.sqlite3").is_file()  # where the README says it is
    # The README's walk-through, start to end: nothing silently left out.
    assert len(ran) >= 17, ran
    assert {_subcommand(_words(line)) for line in ran} == set(RUN) | set(INLINE_RUN)
    assert (here / "scripts.txt").read_text(encoding="utf-8").startswith("Kịch bản thu âm")


@pytest.mark.slow
def test_the_readme_call_speaks_vietnamese_on_the_demo_data(tmp_path: Path) -> None:
    """After the README's demo-data and render, its first call example reads as words."""
    here = _scratch_checkout(tmp_path)
    env = _newcomer_env(tmp_path)
    render, call = (
        next(c for c in fenced_commands() if c.argv[:2] == ("tracuu", word))
        for word in ("prompts", "call")
    )
    for line in ("tracuu demo-data --count 10", render.line, call.line):
        done = subprocess.run(
            ["bash", "-c", line], cwd=here, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "Xin chào, đây là tổng đài tra cứu hồ sơ" in done.stdout
    assert "nay hồ sơ đã quá hạn." in done.stdout  # 2411290002: the overdue demo dossier
    assert "MISSING" not in done.stdout
    assert "txt_" not in done.stdout
