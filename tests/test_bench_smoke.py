"""Every benchmark still runs, at smoke size: a bench that rots is a figure nobody can re-check.

No timing is asserted (the machines are noisy); only that each bench finishes, reports
its figures and, where it counts them, reports no errors and no leaks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# no_store: the benchmarks run in processes of their own, on the databases they set up.
pytestmark = [pytest.mark.slow, pytest.mark.no_store]


def _bench(*args: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "TRACUU_CONFIG": "/nonexistent.toml",
        "TRACUU_DATABASE": str(tmp_path / "bench.sqlite3"),
        "TRACUU_SOUNDS_DIR": str(tmp_path / "sounds"),
    }
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_lookup_bench(tmp_path: Path) -> None:
    out = _bench("bench/lookup_bench.py", "--count", "3000", "--queries", "300", tmp_path=tmp_path)
    assert "by_keypad_digits   n=   300" in out
    assert "by_code (compact)  n=   300" in out


def test_ivr_bench(tmp_path: Path) -> None:
    out = _bench("bench/ivr_bench.py", "--smoke", tmp_path=tmp_path)
    assert out.count("errors 0") == 2, out
    assert out.count("live connections after 0, active calls 0") == 2, out


def test_sms_bench(tmp_path: Path) -> None:
    out = _bench("bench/sms_bench.py", "--smoke", tmp_path=tmp_path)
    parts = dict(line.split(" ", 1) for line in out.splitlines() if not line.startswith("#"))
    figures = {name: json.loads(value) for name, value in parts.items()}
    assert set(figures) == {"tps", "pace", "adapt", "window", "loopback", "reminders"}, out
    # Counts only: each run sent all its messages (run_link waits, bounded, until every
    # one is submitted) and the SMSC accepted each once; the reminders were all queued.
    # Rates and throttles are the bench's figures, not asserted (docs/benchmarks.md): its
    # SMSC stamps a submit when it gets to read it, late on a loaded machine.
    sent = {
        n: (figures[n]["messages"], figures[n]["smsc_submits"]) for n in ("tps", "pace", "adapt")
    }
    assert sent == {"tps": (150, 150), "pace": (150, 150), "adapt": (120, 120)}, out
    assert figures["window"]["messages"] == 100, out
    assert (figures["loopback"]["messages"], figures["loopback"]["smsc_submits"]) == (2000, 2000)
    assert (figures["reminders"]["reminders"], figures["reminders"]["queued"]) == (10000, 10000)


def test_prompts_bench(tmp_path: Path) -> None:
    out = _bench("bench/prompts_bench.py", "--runs", "1", tmp_path=tmp_path)
    assert "re-render unchanged catalog (cached)" in out
    assert "import 10 s WAV 44.1 kHz stereo -> 5 formats" in out


def test_console_stats_bench(tmp_path: Path) -> None:
    out = _bench("bench/console_bench.py", "stats", "--days", "7", "--runs", "2", tmp_path=tmp_path)
    assert "7000 calls" in out
    assert "load 7 days of statistics" in out


def test_agi_bench(tmp_path: Path) -> None:
    out = _bench("bench/agi_bench.py", "--smoke", tmp_path=tmp_path)
    assert "failed calls 0" in out
    assert "ratio tracuu / baseline" in out


def test_mixed_bench(tmp_path: Path) -> None:
    out = _bench("bench/mixed_bench.py", "--smoke", tmp_path=tmp_path)
    # Failed calls and latency are the bench's goals, not asserted: a loaded CI machine
    # misses them while the loop still blocks (docs/benchmarks.md). Exactly once holds.
    assert "failed calls" in out, out
    assert "duplicate parts 0" in out, out
    assert "reminders at the SMSC 1000 of 1000" in out, out


def test_console_board_bench(tmp_path: Path) -> None:
    out = _bench("bench/console_bench.py", "board", "--smoke", tmp_path=tmp_path)
    assert "without browsers: reply -> next command" in out
    assert "with browsers: reply -> next command" in out
    assert "errors 0" in out
    assert "ratio p99 with/without browsers" in out


def test_gc_bench(tmp_path: Path) -> None:
    out = _bench("bench/gc_bench.py", "--dossiers", "3000", "--seconds", "8", tmp_path=tmp_path)
    assert "freeze on :" in out, out
    assert "freeze off:" in out, out
