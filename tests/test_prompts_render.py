"""Placeholders by TTS: real espeak-ng, cached re-renders, gTTS failures behind its interface.

gTTS is never called: its failure modes (timeout, connection error, 0-byte output,
a server that never answers) are simulated through GttsSynthesizer's factory, the
one seam where gtts.gTTS is constructed.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gtts.tts import gTTSError

from prompts import rows
from prompts.audio import FORMATS
from prompts.render import cache_key, render_dynamic, render_placeholders
from prompts.spoken import spell_for_speech
from prompts.store import Store
from prompts.tts import (
    EspeakSynthesizer,
    FallbackSynthesizer,
    GttsSynthesizer,
    Speech,
    SynthesisFailed,
    shared_synthesizer,
    synthesizer_for,
)
from tests.prompts_db import prompt_store
from tests.test_prompts_support import SCRIPTS, dbfs_peak, dbfs_rms, samples_of


class Counting:
    """A real espeak-ng that also remembers what it was asked to say."""

    def __init__(self) -> None:
        self.inner = EspeakSynthesizer()
        self.engine, self.voice = self.inner.engine, self.inner.voice
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Speech:
        with self._lock:
            self.texts.append(text)
        return self.inner.synthesize(text)


class FakeGtts:
    """Stands in for gtts.gTTS: records the timeout it was given, then behaves as told."""

    def __init__(
        self, behaviour: str, release: threading.Event | None = None, mp3: bytes = b""
    ) -> None:
        self.behaviour, self.release, self.mp3 = behaviour, release, mp3
        self.calls: list[tuple[str, float]] = []
        self.answered = False  # a silent peer let go (released, or its 30 s were over)

    def __call__(self, text: str, timeout_s: float) -> FakeGtts:
        self.calls.append((text, timeout_s))
        return self

    def write_to_fp(self, fp: io.BytesIO) -> None:
        if self.behaviour == "offline":  # what gTTS raises when DNS fails or the route is dropped
            raise gTTSError("Failed to connect. Probable cause: Unknown")
        if self.behaviour == "timeout":  # requests' ReadTimeout surfaces as a gTTSError too
            raise gTTSError("Failed to connect. Probable cause: timeout")
        if self.behaviour == "silent-peer":  # accepts, never answers: blocks until released
            assert self.release is not None
            self.release.wait(30)
            self.answered = True
            return
        if self.behaviour == "empty":  # 200 OK with no audio: the 0-byte file case
            return
        fp.write(self.mp3)


@pytest.fixture
def store(tmp_path: Path, store_url: str) -> Iterator[Store]:
    with prompt_store(tmp_path / "sounds", store_url) as opened:
        yield opened


@pytest.fixture(scope="module")
def mp3(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Real MP3 bytes like gTTS returns (24 kHz mono), made from espeak-ng speech."""
    wav = EspeakSynthesizer().synthesize(SCRIPTS["goodbye"]).audio
    return subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-ar",
            "24000",
            "-c:a",
            "libmp3lame",
            "-f",
            "mp3",
            "pipe:1",
        ],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout


# --- espeak-ng and the rendered files ------------------------------------------------------


def test_every_prompt_gets_every_asterisk_format_at_the_house_level(store: Store) -> None:
    result = render_placeholders(store, SCRIPTS, EspeakSynthesizer())

    assert sorted(result.rendered) == sorted(SCRIPTS)
    assert result.failed == {}
    for prompt_id in SCRIPTS:
        for fmt in FORMATS:
            samples, rate = samples_of(store.live_path(prompt_id, fmt))
            assert rate == (16000 if fmt == "sln16" else 8000)
            assert len(samples) / rate > 1.0  # a sentence, not a blip
            assert dbfs_peak(samples) <= -3.0
            assert -23.0 <= dbfs_rms(samples) <= -17.0, (prompt_id, fmt, dbfs_rms(samples))
    manifest = store.read()
    assert {pid: r.live for pid, r in manifest.records.items()} == dict.fromkeys(SCRIPTS, 0)
    version = manifest.record("welcome").versions[0]
    assert (version.source, version.engine, version.voice) == ("tts", "espeak-ng", "vi@150wpm")


def test_a_cached_re_render_synthesises_nothing_and_a_changed_script_only_itself(
    store: Store,
) -> None:
    first = Counting()
    render_placeholders(store, SCRIPTS, first)
    live = {p.name: p.stat().st_ino for p in store.live_dir.iterdir()}

    again = Counting()
    manifest = store.db.run(rows.generation)
    result = render_placeholders(store, SCRIPTS, again)
    assert again.texts == []
    assert store.db.run(rows.generation) == manifest  # the manifest is not even written
    assert sorted(result.unchanged) == sorted(SCRIPTS)
    assert {p.name: p.stat().st_ino for p in store.live_dir.iterdir()} == live

    changed = {**SCRIPTS, "goodbye": "Cảm ơn Ông Bà. Hẹn gặp lại."}
    third = Counting()
    result = render_placeholders(store, changed, third)
    assert third.texts == ["Cảm ơn Ông Bà. Hẹn gặp lại."]
    assert result.rendered == ["goodbye"]
    now = {p.name: p.stat().st_ino for p in store.live_dir.iterdir()}
    assert {k for k in now if now[k] != live.get(k)} == {f"goodbye.{fmt}" for fmt in FORMATS}

    # Back to the old script: its audio is still in the cache.
    fourth = Counting()
    result = render_placeholders(store, SCRIPTS, fourth)
    assert (fourth.texts, result.reused) == ([], ["goodbye"])


def test_numbers_and_dates_are_spoken_as_words_before_synthesis(store: Store) -> None:
    spy = Counting()
    render_placeholders(store, {"due": "Hạn trả ngày 15/4/2026, lệ phí 50.000 đồng."}, spy)
    assert spy.texts == [
        "Hạn trả ngày mười lăm tháng tư năm hai nghìn không trăm hai mươi sáu, "
        "lệ phí năm mươi nghìn đồng."
    ]


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("bấm phím 1", "bấm phím một"),
        ("15 ngày", "mười lăm ngày"),
        ("năm 2026", "năm hai nghìn không trăm hai mươi sáu"),
        ("ngày 05/01/2026", "ngày mùng năm tháng một năm hai nghìn không trăm hai mươi sáu"),
        ("gọi 0243 123 456", "gọi không hai bốn ba một hai ba bốn năm sáu"),
        ("lúc 7:30", "lúc bảy giờ ba mươi"),
        ("2,5 ngày", "hai phẩy năm ngày"),
        ("105 hồ sơ", "một trăm linh năm hồ sơ"),
        ("ngày 5 tháng 4 năm 2026", "ngày mùng năm tháng tư năm hai nghìn không trăm hai mươi sáu"),
        ("trong tháng 1", "trong tháng một"),
        ("tháng 13", "tháng mười ba"),
        ("không có số", "không có số"),
    ],
)
def test_spelling_for_speech(text: str, spoken: str) -> None:
    assert spell_for_speech(text) == spoken


def test_southern_numbers_follow_the_region_setting() -> None:
    assert spell_for_speech("105 và 2000", region="south") == "một trăm lẻ năm và hai ngàn"


def test_dynamic_texts_become_txt_prompts_with_their_text_remembered(store: Store) -> None:
    from messages.parts import dynamic_prompt_id

    name = "Cấp giấy phép  xây dựng"  # spacing as a one-stop system might send it
    result = render_dynamic(store, [name, "", name], EspeakSynthesizer())
    prompt_id = dynamic_prompt_id(name)
    assert result.rendered == [prompt_id]
    assert store.read().dynamic == {prompt_id: "Cấp giấy phép xây dựng"}
    assert all(store.live_path(prompt_id, fmt).is_file() for fmt in FORMATS)


# --- gTTS failure modes, behind its interface --------------------------------------------


def test_gtts_gets_the_timeout_and_its_mp3_is_converted(store: Store, mp3: bytes) -> None:
    fake = FakeGtts("ok", mp3=mp3)
    result = render_placeholders(
        store, {"goodbye": SCRIPTS["goodbye"]}, GttsSynthesizer(timeout_s=3.5, factory=fake)
    )
    assert fake.calls == [(SCRIPTS["goodbye"], 3.5)]
    assert result.rendered == ["goodbye"]
    version = store.read().record("goodbye").versions[0]
    assert (version.engine, version.voice) == ("gtts", "vi")
    samples, _ = samples_of(store.live_path("goodbye", "sln"))
    assert -23.0 <= dbfs_rms(samples) <= -17.0


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("offline", "gTTS failed: Failed to connect. Probable cause: Unknown"),
        ("timeout", "gTTS failed: Failed to connect. Probable cause: timeout"),
        ("empty", "gTTS returned no audio (0 bytes)"),
    ],
)
def test_gtts_failures_are_synthesis_failures(behaviour: str, reason: str) -> None:
    with pytest.raises(SynthesisFailed) as caught:
        GttsSynthesizer(factory=FakeGtts(behaviour)).synthesize("Xin chào")
    assert str(caught.value) == reason


def test_a_peer_that_never_answers_is_cut_off_at_the_deadline() -> None:
    release = threading.Event()
    peer = FakeGtts("silent-peer", release)
    try:
        with pytest.raises(SynthesisFailed, match=r"did not answer within 1\.2 s"):
            GttsSynthesizer(timeout_s=0.2, factory=peer).synthesize("a")
        # Given up while the peer still held the request: cut off at the deadline, not
        # after the 30 s the silent peer would hold us (no stopwatch: the same on a
        # loaded machine).
        assert peer.calls == [("a", 0.2)]
        assert not peer.answered
    finally:
        release.set()


def test_the_breaker_trips_on_the_first_failure_and_espeak_renders_the_rest(store: Store) -> None:
    fake = FakeGtts("offline")
    auto = FallbackSynthesizer(GttsSynthesizer(factory=fake), EspeakSynthesizer())

    result = render_placeholders(store, SCRIPTS, auto)

    assert len(fake.calls) == 1  # asked once, never again in this run
    assert auto.tripped == "gTTS failed: Failed to connect. Probable cause: Unknown"
    assert sorted(result.rendered) == sorted(SCRIPTS)
    records = store.read().records
    assert {r.versions[0].engine for r in records.values()} == {"espeak-ng"}
    # Keyed by the engine that really spoke, so the next offline run finds them.
    spoken = spell_for_speech(SCRIPTS["welcome"])
    assert records["welcome"].versions[0].key == cache_key(spoken, "espeak-ng", "vi@150wpm")
    assert all(store.live_path(pid, "alaw").stat().st_size > 8000 for pid in SCRIPTS)


def test_an_empty_gtts_answer_never_reaches_the_sounds_directory(store: Store) -> None:
    auto = FallbackSynthesizer(GttsSynthesizer(factory=FakeGtts("empty")), EspeakSynthesizer())
    render_placeholders(store, {"welcome": SCRIPTS["welcome"]}, auto)
    sizes = [store.live_path("welcome", fmt).stat().st_size for fmt in FORMATS]
    assert min(sizes) > 8000
    files = [p for p in store.root.rglob("*") if p.is_file() and p.name != "lock"]
    assert files
    assert not [p for p in files if p.stat().st_size == 0]


def test_when_every_engine_fails_the_prompt_is_reported_not_half_written(store: Store) -> None:
    broken = EspeakSynthesizer(binary="/nonexistent/espeak-ng")
    result = render_placeholders(store, {"welcome": SCRIPTS["welcome"]}, broken)
    assert result.failed == {
        "welcome": "/nonexistent/espeak-ng is not installed (Debian package espeak-ng)"
    }
    assert not store.live_dir.exists()
    assert store.read().record("welcome").live is None


def test_gtts_alone_stops_asking_after_its_first_failure() -> None:
    fake = FakeGtts("offline")
    lone = FallbackSynthesizer(GttsSynthesizer(factory=fake), None)
    with pytest.raises(SynthesisFailed, match="Probable cause: Unknown"):
        lone.synthesize("một")
    with pytest.raises(SynthesisFailed, match=r"^skipped: gtts already failed in this run$"):
        lone.synthesize("hai")
    assert len(fake.calls) == 1
    assert isinstance(synthesizer_for("gtts"), FallbackSynthesizer)
    assert isinstance(synthesizer_for("espeak"), EspeakSynthesizer)


def test_files_are_readable_by_asterisk_whatever_the_umask(store: Store) -> None:
    old = os.umask(0o077)
    try:
        render_placeholders(store, {"welcome": SCRIPTS["welcome"]}, EspeakSynthesizer())
    finally:
        os.umask(old)
    for directory in (store.live_dir.parent.parent, store.live_dir.parent, store.live_dir):
        assert directory.stat().st_mode & 0o777 == 0o755
    for fmt in FORMATS:
        assert store.live_path("welcome", fmt).stat().st_mode & 0o777 == 0o644


def test_the_breaker_is_shared_by_every_render_pass_and_retries_after_its_cool_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Three passes at start-up (catalog, settings scripts, dynamic texts) get one breaker.
    assert shared_synthesizer("auto", timeout_s=0.25) is shared_synthesizer("auto", timeout_s=0.25)
    now = [1000.0]
    fake = FakeGtts("offline")
    auto = FallbackSynthesizer(
        GttsSynthesizer(factory=fake), EspeakSynthesizer(), cooldown_s=3600, clock=lambda: now[0]
    )
    with caplog.at_level(logging.INFO, logger="prompts.tts"):
        for text in ("một", "hai", "ba"):
            assert auto.synthesize(text).engine == "espeak-ng"
        now[0] += 3599
        assert auto.synthesize("bốn").engine == "espeak-ng"
        assert len(fake.calls) == 1  # not asked again within the hour
        now[0] += 1
        auto.synthesize("năm")  # cool-down over: gTTS is asked (and fails) once more
    assert len(fake.calls) == 2
    trips = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(trips) == 2  # one per real failure, not one per request or pass
    assert trips[0].endswith("using espeak-ng for 60 min, then it is tried again")
    assert "gtts: cool-down over, trying it again" in caplog.text
