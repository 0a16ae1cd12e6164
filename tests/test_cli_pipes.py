"""Every listing command ends quietly, exit 0, when its reader closes the pipe early.

`tracuu call --json | head` and `tracuu sms outbox | head` once ended with a
BrokenPipeError traceback or exit 1. The reader here is gone before the command
writes anything (its end of the pipe is closed at once), so every write meets a
closed pipe: the same as `| head -1` on a long output, without depending on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only("tracuu in processes of their own on a SQLite demo file")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("pipes")
    done = _run(here, "demo-data", "--count", "20", stdout=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    return here


def _env(here: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TRACUU_DATABASE": str(here / "tracuu.sqlite3"),
        "TRACUU_SOUNDS_DIR": str(here / "sounds"),
        "TRACUU_CONFIG": "/nonexistent",
    }


def _run(here: Path, *args: str, stdout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=here,
        env=_env(here),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


def _to_closed_pipe(here: Path, *args: str) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone (head has printed its lines)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            cwd=here,
            env=_env(here),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


LISTINGS = [
    ("call", "--keys", "1 2411290002#", "--json"),
    ("call", "--keys", "1 2411290002#"),
    ("sms", "outbox"),
    ("sms", "outbox", "--text"),
    ("lookup", "--keypad", "2411290001"),
    ("lookup", "000.00.18.H26-241129-0001", "--json"),
    ("prompts", "export-script"),
    ("prompts", "export-script", "--csv"),
    ("--help",),
]


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly_with_exit_0(
    workdir: Path, args: tuple[str, ...]
) -> None:
    code, stderr = _to_closed_pipe(workdir, *args)
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert "Exception ignored" not in stderr
    assert code == 0


def test_the_same_commands_still_print_to_an_open_pipe(workdir: Path) -> None:
    done = _run(workdir, "sms", "outbox", stdout=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert done.stdout  # the mechanism only acts on a closed pipe


def test_other_faults_are_not_swallowed() -> None:
    from gateway.cli import _only_broken_pipes

    assert _only_broken_pipes(BrokenPipeError())
    assert _only_broken_pipes(ExceptionGroup("g", [BrokenPipeError(), BrokenPipeError()]))
    assert not _only_broken_pipes(ExceptionGroup("g", [BrokenPipeError(), ValueError()]))
    assert not _only_broken_pipes(ConnectionResetError())
