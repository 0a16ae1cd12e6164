"""The loop-lag monitor: a stalled loop is measured, and the stall's cause is named once."""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
import time
from pathlib import Path

import pytest

from kernel.looplag import BUCKETS, LoopLagMonitor, describe

pytestmark = pytest.mark.no_store


def block_the_loop() -> None:
    time.sleep(0.3)  # a synchronous step where an await belongs (the mistake to catch)


async def test_a_blocking_callback_gives_one_warning_that_names_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = LoopLagMonitor(interval_s=0.01, warn_s=0.1)
    caplog.set_level(logging.WARNING, logger="kernel.looplag")
    async with asyncio.timeout(60):
        monitor.start()
        try:
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().call_soon(block_the_loop)
            await asyncio.sleep(0.1)  # the loop runs again: the late tick reports
        finally:
            monitor.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "kernel.looplag"]
    naming = [w for w in warnings if "block_the_loop" in w]
    assert len(naming) == 1, warnings  # one stall, one warning
    assert naming[0].startswith("event loop blocked for")
    assert "block_the_loop (tests/test_looplag.py:" in naming[0]
    figures = monitor.figures()
    assert figures.stalls >= 1
    assert figures.max_s > monitor.warn_s
    assert figures.count > 0


async def test_figures_are_plain_numbers_an_exporter_can_read() -> None:
    # No stall is a tick a minute late (the default 0.1 s: a loaded machine's scheduler
    # alone makes one now and then, which is not what this test is about).
    monitor = LoopLagMonitor(interval_s=0.005, warn_s=60.0, watch=False)
    async with asyncio.timeout(60):
        monitor.start()
        try:
            await asyncio.sleep(0.05)
        finally:
            monitor.stop()
    figures = monitor.figures()
    assert figures.count >= 1
    assert [bound for bound, _ in figures.buckets] == list(BUCKETS)
    counts = [n for _, n in figures.buckets]
    assert counts == sorted(counts)  # cumulative, as a Prometheus histogram
    assert counts[-1] <= figures.count
    assert 0.0 <= figures.p50_s <= figures.p99_s <= figures.recent_max_s <= figures.max_s
    assert figures.stalls == 0


def test_a_stall_inside_an_import_names_the_line_that_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "slow_to_import.py").write_text("import sys\nFRAME = sys._getframe()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "slow_to_import", raising=False)
    frame = importlib.import_module("slow_to_import").FRAME
    parts = describe(frame).split(" <- ")
    assert parts[0].startswith("<module> (")
    assert parts[0].endswith("/slow_to_import.py:2)")
    assert parts[1] == "[import]"  # a dozen frames of importlib, once
    assert parts[2].startswith("import_module (importlib/__init__.py:")
    assert "test_a_stall_inside_an_import_names_the_line_that_imports (tests/test_looplag.py:" in (
        " <- ".join(parts)
    )
