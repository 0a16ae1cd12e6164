"""Which prompts a call may send to Asterisk: the live files, listed cheaply and kept fresh."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ivr.available import LivePrompts

pytestmark = pytest.mark.no_store


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_live_files_are_seen_a_new_one_within_a_second_and_temp_files_never(
    tmp_path: Path,
) -> None:
    live = tmp_path / "vi" / "tracuu"
    live.mkdir(parents=True)
    (live / "ivr_welcome.alaw").write_bytes(b"\0")
    (live / ".txt_new.alaw.123.tmp").write_bytes(b"\0")  # a publish in progress
    (live / "notes.txt").write_text("x")
    clock = Clock()
    available = LivePrompts(live, ttl_s=30.0, miss_rescan_s=1.0, clock=clock)

    assert available("ivr_welcome")
    assert not available("txt_new")
    assert not available("notes")

    (live / "txt_new.sln16").write_bytes(b"\0")  # rendered by the prompts component
    clock.now += 0.5
    assert not available("txt_new")  # a miss storm does not list the directory each time
    clock.now += 0.6
    assert available("txt_new")  # a second later it is seen

    (live / "ivr_welcome.alaw").unlink()
    clock.now += 1.0
    assert available("ivr_welcome")  # hits are trusted until the listing is old
    clock.now += 30.0
    assert not available("ivr_welcome")


def test_an_unreadable_sounds_directory_means_nothing_is_available(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.available")
    available = LivePrompts(tmp_path / "missing", clock=Clock())
    assert not available("ivr_welcome")
    assert "cannot list voice prompts in" in caplog.text


def test_a_missing_sounds_directory_is_warned_about_once_not_at_every_rescan(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ivr.available")
    clock = Clock()
    sounds = tmp_path / "sounds"
    available = LivePrompts(sounds, clock=clock)
    for _ in range(5):
        assert not available("ivr_welcome")
        clock.now += 2.0  # past the miss rescan interval: each call rescans
    assert caplog.text.count("cannot list voice prompts") == 1

    sounds.mkdir()
    (sounds / "ivr_welcome.alaw").write_bytes(b"\0")
    assert available("ivr_welcome")
    sounds.joinpath("ivr_welcome.alaw").unlink()
    sounds.rmdir()
    clock.now += 40.0
    assert not available("ivr_welcome")
    assert caplog.text.count("cannot list voice prompts") == 2  # a new outage is told again
