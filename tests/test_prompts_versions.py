"""Versions: drafts, approval, rollback. The rules are pure; going live switches real files."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompts.audio import FORMATS
from prompts.history import describe
from prompts.inventory import inspect
from prompts.recordings import approve_version, import_recording, rollback_version
from prompts.render import render_placeholders
from prompts.settings import SoundsSettings
from prompts.store import Store, write_atomically
from prompts.tts import EspeakSynthesizer
from prompts.versions import (
    Event,
    FileInfo,
    PromptRecord,
    Refused,
    Version,
    add_recording,
    approve,
    rollback,
    set_placeholder,
    state,
)
from tests.prompts_db import prompt_store
from tests.test_prompts_support import SCRIPTS, small_catalog, sox, speech

FILES = {"alaw": FileInfo("0" * 64, 1)}


def placeholder(key: str = "k0", text: str = "a") -> Version:
    return Version(0, "tts", "t0", text, FILES, 1.0, engine="espeak-ng", voice="vi", key=key)


def recording(number: int) -> Version:
    return Version(number, "recording", f"t{number}", "a", FILES, 1.0, by="Lan")


def base() -> PromptRecord:
    record, _ = set_placeholder(PromptRecord("welcome"), placeholder())
    return add_recording(add_recording(record, recording(1)), recording(2))


# --- the pure rules ----------------------------------------------------------------------


def test_a_new_recording_is_a_draft_and_the_placeholder_stays_live() -> None:
    record = base()
    assert record.live == 0
    assert [state(record, n) for n in (0, 1, 2)] == ["live", "draft", "draft"]


def test_approving_makes_a_version_live_and_remembers_the_approval() -> None:
    record = approve(base(), 2, by="Hoa", at="t9")
    assert isinstance(record, PromptRecord)
    assert record.live == 2
    assert [state(record, n) for n in (0, 1, 2)] == ["placeholder", "draft", "live"]
    assert (record.versions[2].approved_at, record.versions[2].approved_by) == ("t9", "Hoa")
    assert record.history[-1] == Event("t9", "Hoa", "approved", 2)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (7, "welcome has no version 7"),
        (0, "version 0 is the TTS placeholder; use rollback to go back to it"),
    ],
)
def test_approve_refuses_with_the_reason(number: int, reason: str) -> None:
    assert approve(base(), number, by="Hoa", at="t9") == Refused(reason)


def test_approving_the_live_version_again_is_refused() -> None:
    live = approve(base(), 1, by="Hoa", at="t9")
    assert isinstance(live, PromptRecord)
    assert approve(live, 1, by="Hoa", at="t10") == Refused("version 1 of welcome is already live")


def test_rollback_goes_to_the_placeholder_or_an_earlier_approved_version_only() -> None:
    one = approve(base(), 1, by="Hoa", at="t3")
    assert isinstance(one, PromptRecord)
    two = approve(one, 2, by="Hoa", at="t4")
    assert isinstance(two, PromptRecord)

    back = rollback(two, 1, by="Hoa", at="t5")
    assert isinstance(back, PromptRecord)
    assert back.live == 1
    assert state(back, 2) == "rolled_back"  # taken off the air; may be approved again later
    assert (back.versions[2].rolled_back_at, back.versions[2].rolled_back_by) == ("t5", "Hoa")
    again = approve(back, 2, by="Lan", at="t5b")
    assert isinstance(again, PromptRecord)
    assert state(again, 2) == "live"
    assert again.versions[2].rolled_back_at is None
    to_tts = rollback(back, 0, by="Hoa", at="t6")
    assert isinstance(to_tts, PromptRecord)
    assert to_tts.live == 0


def test_rollback_refusals() -> None:
    two = approve(base(), 2, by="Hoa", at="t4")
    assert isinstance(two, PromptRecord)
    assert rollback(two, 1, by="H", at="t") == Refused(
        "version 1 was never approved; listen to it and approve it instead"
    )
    assert rollback(two, 2, by="H", at="t") == Refused("version 2 of welcome is already live")
    assert rollback(two, 5, by="H", at="t") == Refused("welcome has no version 5")
    back = rollback(two, 0, by="H", at="t")
    assert isinstance(back, PromptRecord)
    assert rollback(back, 2, by="H", at="t") == Refused(
        "version 2 is newer than the live one (v0); approve it"
    )


def test_a_new_placeholder_does_not_replace_a_live_recording() -> None:
    live = approve(base(), 1, by="Hoa", at="t3")
    assert isinstance(live, PromptRecord)
    updated, goes_live = set_placeholder(live, placeholder("k1", "new script"))
    assert not goes_live
    assert updated.live == 1
    assert updated.placeholder == placeholder("k1", "new script")
    assert [v.number for v in updated.versions] == [0, 1, 2]


def test_recordings_must_come_in_order_and_as_drafts() -> None:
    with pytest.raises(ValueError, match="the next recording is version 3"):
        add_recording(base(), recording(5))
    with pytest.raises(ValueError, match="draft"):
        add_recording(base(), Version(3, "recording", "t", "a", FILES, 1.0, approved_at="t"))


# --- on disk: what Asterisk sees -----------------------------------------------------------


def _live(store: Store) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.live_dir.iterdir())
        if not p.name.startswith(".")
    }


def _version_files(store: Store, prompt_id: str, number: int) -> dict[str, str]:
    directory = store.version_dir(prompt_id, number)
    return {
        f"{prompt_id}.{fmt}": hashlib.sha256(
            (directory / f"{prompt_id}.{fmt}").read_bytes()
        ).hexdigest()
        for fmt in FORMATS
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A placeholder render cache for the small catalog, and two recordings."""
    root = tmp_path_factory.mktemp("rendered")
    with prompt_store(root / "sounds", root / "render.sqlite3") as store:
        result = render_placeholders(store, SCRIPTS, EspeakSynthesizer())
    assert sorted(result.rendered) == sorted(SCRIPTS)
    first = speech(root / "take1.wav", rate=140)
    second = sox(root / "take2.wav", "speed", "1.1", source=speech(root / "raw2.wav"))
    return root, first, second


@pytest.fixture
def setup(
    rendered: tuple[Path, Path, Path], tmp_path: Path, store_url: str
) -> Iterator[tuple[Store, SoundsSettings, Path, Path]]:
    """This test's database with the placeholders live (from the render cache: nothing is
    synthesised again), its own sounds directory, and two recordings to import."""
    root, first, second = rendered
    import shutil

    shutil.copytree(root / "sounds" / ".tracuu", tmp_path / "sounds" / ".tracuu")
    sounds = SoundsSettings(dir=tmp_path / "sounds")
    with prompt_store(sounds.dir, store_url) as store:
        result = render_placeholders(store, SCRIPTS, EspeakSynthesizer(binary="/nonexistent"))
        assert sorted(result.reused) == sorted(SCRIPTS)
        yield store, sounds, first, second


def test_approve_switches_only_that_prompts_files_and_rollback_restores_them(
    setup: tuple[Store, SoundsSettings, Path, Path],
) -> None:
    store, sounds, first, second = setup
    placeholders = _live(store)
    import_recording(store, sounds, SCRIPTS, "welcome", first, by="Lan")
    import_recording(store, sounds, SCRIPTS, "welcome", second, by="Lan")
    assert _live(store) == placeholders  # importing changes nothing live

    assert isinstance(approve_version(store, "welcome", 1, by="Hoa"), PromptRecord)
    after = _live(store)
    welcome = {k for k in after if k.startswith("welcome.")}
    assert {k: after[k] for k in welcome} == _version_files(store, "welcome", 1)
    assert {k: v for k, v in after.items() if k not in welcome} == {
        k: v for k, v in placeholders.items() if k not in welcome
    }  # every other prompt untouched, byte for byte

    assert isinstance(approve_version(store, "welcome", 2, by="Hoa"), PromptRecord)
    assert {k: _live(store)[k] for k in welcome} == _version_files(store, "welcome", 2)
    assert isinstance(rollback_version(store, "welcome", 1, by="Hoa"), PromptRecord)
    assert {k: _live(store)[k] for k in welcome} == _version_files(store, "welcome", 1)
    assert isinstance(rollback_version(store, "welcome", 0, by="Hoa"), PromptRecord)
    assert _live(store) == placeholders
    record = store.read().record("welcome")
    assert [describe(event) for event in record.history] == [
        "espeak-ng: tạo giọng máy tạm (v0)",
        "Lan: nhập bản thu v1 (bản nháp)",
        "Lan: nhập bản thu v2 (bản nháp)",
        "Hoa: duyệt v1: người gọi nghe bản này",
        "Hoa: duyệt v2: người gọi nghe bản này",
        "Hoa: quay lại v1",
        "Hoa: quay lại giọng máy (v0)",
    ]
    assert [state(record, n) for n in (0, 1, 2)] == ["live", "rolled_back", "rolled_back"]


def test_a_refused_switch_changes_nothing(setup: tuple[Store, SoundsSettings, Path, Path]) -> None:
    store, sounds, first, _ = setup
    import_recording(store, sounds, SCRIPTS, "welcome", first, by="Lan")
    before, record = _live(store), store.record("welcome")
    outcome = rollback_version(store, "welcome", 1, by="Hoa")
    assert outcome == Refused("version 1 is newer than the live one (v0); approve it")
    assert _live(store) == before
    assert store.record("welcome") == record


def test_a_process_killed_mid_switch_keeps_the_approval_and_the_next_render_finishes_it(
    setup: tuple[Store, SoundsSettings, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, sounds, first, _ = setup
    import_recording(store, sounds, SCRIPTS, "welcome", first, by="Lan")
    real_replace, calls = os.replace, []

    def dies_on_third_format(src: str | Path, dst: str | Path) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the operator's Ctrl-C, half-way through the formats
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dies_on_third_format)
    with pytest.raises(KeyboardInterrupt):
        approve_version(store, "welcome", 1, by="Hoa")
    monkeypatch.setattr(os, "replace", real_replace)

    # The approval was committed (every gateway now plays v1); these files are half done.
    report = inspect(store, small_catalog())
    row = next(r for r in report.rows if r.prompt_id == "welcome")
    assert (row.source, row.version) == ("recorded", 1)
    assert row.files == {
        "alaw": "ok",
        "ulaw": "ok",
        "sln": "differs",
        "sln16": "differs",
        "wav": "differs",
    }
    assert report.incomplete == ("welcome",)

    # Re-rendering writes the rest from the database; nothing is re-synthesised.
    result = render_placeholders(store, SCRIPTS, EspeakSynthesizer(binary="/nonexistent"))
    assert (result.repaired, result.rendered, result.failed) == (["welcome"], [], {})
    assert inspect(store, small_catalog()).ok
    assert {k: v for k, v in _live(store).items() if k.startswith("welcome.")} == _version_files(
        store, "welcome", 1
    )


def test_damaged_live_files_of_a_recording_are_restored_from_its_version(
    setup: tuple[Store, SoundsSettings, Path, Path],
) -> None:
    store, sounds, first, _ = setup
    import_recording(store, sounds, SCRIPTS, "welcome", first, by="Lan")
    assert isinstance(approve_version(store, "welcome", 1, by="Hoa"), PromptRecord)
    store.live_path("welcome", "sln16").unlink()
    store.live_path("welcome", "alaw").write_bytes(b"\xd5" * 100)  # a hand edit
    assert inspect(store, small_catalog()).incomplete == ("welcome",)

    result = render_placeholders(store, SCRIPTS, EspeakSynthesizer(binary="/nonexistent"))

    assert result.repaired == ["welcome"]
    assert {k: v for k, v in _live(store).items() if k.startswith("welcome.")} == _version_files(
        store, "welcome", 1
    )
    assert inspect(store, small_catalog()).ok


def test_an_interrupted_atomic_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "manifest.json"
    write_atomically(target, b"old")

    def interrupted(src: str | Path, dst: str | Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left


def test_leftovers_of_killed_runs_are_swept_when_old_and_kept_when_fresh(
    setup: tuple[Store, SoundsSettings, Path, Path],
) -> None:
    store = setup[0]
    old_tmp = store.root / "tts" / ".deadbeef.abc"
    old_tmp.mkdir()
    (old_tmp / "audio.alaw").write_bytes(b"x")
    old_import = store.root / "versions" / "welcome" / ".import.xyz"
    old_import.mkdir(parents=True)
    old_live = store.live_dir / ".welcome.alaw.999.tmp"
    old_live.write_bytes(b"x")
    fresh = store.root / "tts" / ".cafe.def"
    fresh.mkdir()
    for path in (old_tmp, old_import, old_live):
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    placeholders = _live(store)

    removed = store.sweep()

    assert sorted(removed) == sorted([old_tmp, old_import, old_live])
    assert fresh.is_dir()  # may belong to a render running right now
    assert _live(store) == placeholders
    assert inspect(store, small_catalog()).ok
