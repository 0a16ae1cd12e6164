"""The province benchmark still runs at smoke size: one gateway, then two, on one PostgreSQL.

bench/province_bench.py --smoke starts its own PostgreSQL on loopback, real `tracuu
serve` processes, the callers and the test SMSC. No timing is asserted (a loaded CI
machine is slow); what a caller or texter would notice is: every call completed, every
reminder reached the SMSC, none twice, in both phases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers import postgres

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_gateways_on_one_postgresql_lose_and_repeat_nothing(tmp_path: Path) -> None:
    why = postgres.available()
    if why is not None:
        pytest.skip(why)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACUU_")}
    env["TRACUU_CONFIG"] = str(tmp_path / "absent.toml")
    done = subprocess.run(
        [sys.executable, "bench/province_bench.py", "--smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=480, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "exactly once: duplicate parts A 0 B 0; reminders lost A 0 B 0" in out, out[-3000:]
    assert "failed calls A 0 B 0" in out, out[-3000:]
    assert "phase B (2 gateways)" in out
    assert "ratio B/A (two gateways / one, same run): SMS parts/s" in out
