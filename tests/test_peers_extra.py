"""Without the optional extra `peers`, the commands that need a peer say how to install it.

Each command runs in a child Python where `smpp` (the test SMSC's codec, the
extra's only package) cannot be imported, as on a machine that installed
tracuu without `.[peers]`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.peers.smsc import seed

pytestmark = pytest.mark.sqlite_only("tracuu in processes of their own on a SQLite demo file")

ROOT = Path(__file__).resolve().parent.parent
WITHOUT_EXTRA = (
    "import sys; sys.modules['smpp'] = None; "
    "from gateway.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    database = tmp_path / "demo.sqlite3"
    asyncio.run(seed(database, date.today()))
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACUU_DATABASE": str(database),
        "TRACUU_CONFIG": str(tmp_path / "absent.toml"),
        "TRACUU_SMPP_HOST": "",
        "TRACUU_AGI_PORT": "0",
        "TRACUU_HTTP_PORT": "0",
    }


def tracuu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["TRACUU_CONFIG"].rsplit("/", 1)[0],
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("sms", "text", "--from", "0912345678", "HS 000.00.18.H26-241129-0001"),
        ("demo", "--count", "5"),
    ],
    ids=["sms text", "demo"],
)
def test_a_command_that_needs_the_test_smsc_says_in_one_line_how_to_install_it(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    done = tracuu(env, *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "tracuu: the test SMSC (demo mode, tracuu sms text) needs the optional extra 'peers': "
        "pip install -e '.[peers]' (or: bash scripts/bootstrap install)"
    )


def test_a_simulated_call_needs_no_extra(env: dict[str, str]) -> None:
    done = tracuu(env, "call", "--keys", "1 2411290002# _ _ _", "--no-prompt-check", "--ids")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip()
