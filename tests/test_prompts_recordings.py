"""Staff recordings: real uploads in every browser/phone format become Asterisk-ready files.

Every input is real audio made here with espeak-ng, sox and ffmpeg; every output
is read back the way Asterisk's format modules read it.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from prompts.audio import FORMATS, Rejected
from prompts.history import describe
from prompts.recordings import import_recording, safe_file_name
from prompts.settings import SoundsSettings
from prompts.store import Store
from tests.prompts_db import prompt_store
from tests.test_prompts_support import (
    SCRIPTS,
    dbfs_peak,
    dbfs_rms,
    encode,
    samples_of,
    sox,
    speech,
)


@pytest.fixture
def sounds(tmp_path: Path) -> SoundsSettings:
    return SoundsSettings(dir=tmp_path / "sounds")


@pytest.fixture
def store(sounds: SoundsSettings, store_url: str) -> Iterator[Store]:
    with prompt_store(sounds.dir, store_url) as opened:
        yield opened


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return speech(tmp_path_factory.mktemp("voice") / "welcome.wav")


def _import(store: Store, sounds: SoundsSettings, upload: Path, prompt_id: str = "welcome"):  # type: ignore[no-untyped-def]
    return import_recording(store, sounds, SCRIPTS, prompt_id, upload, by="Lan")


def _tree(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "lock"
    }


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".wav", ("-ar", "44100", "-ac", "2")),  # a phone's recorder: 44.1 kHz stereo
        (".mp3", ("-c:a", "libmp3lame", "-b:a", "64k")),
        (".ogg", ("-c:a", "libopus", "-b:a", "32k")),  # Firefox MediaRecorder
        (".webm", ("-c:a", "libopus", "-b:a", "32k", "-ar", "48000")),  # Chrome MediaRecorder
        (".m4a", ("-c:a", "aac", "-b:a", "64k")),  # iPhone voice memo
    ],
)
def test_every_upload_format_becomes_every_asterisk_format(  # noqa: PLR0917 - fixtures
    store: Store,
    sounds: SoundsSettings,
    voice: Path,
    tmp_path: Path,
    suffix: str,
    options: tuple[str, ...],
) -> None:
    upload = encode(voice, tmp_path / f"ghi-am{suffix}", *options)

    done = _import(store, sounds, upload)

    assert done.version.number == 1
    directory = store.version_dir("welcome", 1)
    lengths = {}
    for fmt in FORMATS:
        samples, rate = samples_of(directory / f"welcome.{fmt}")
        assert rate == (16000 if fmt == "sln16" else 8000)
        lengths[fmt] = len(samples) / rate
        assert dbfs_peak(samples) <= -3.0, fmt  # headroom for the codecs
        # about -20 dBFS RMS: within 2.5 dB (μ-law/A-law quantisation, codec losses)
        assert -22.5 <= dbfs_rms(samples) <= -17.5, (fmt, dbfs_rms(samples))
        assert (directory / f"welcome.{fmt}").stat().st_mode & 0o777 == 0o644  # Asterisk's user
    assert max(lengths.values()) - min(lengths.values()) < 0.01  # every format the same audio
    assert abs(lengths["sln"] - done.version.duration_s) < 0.02
    assert (directory / f"original{suffix}").read_bytes() == upload.read_bytes()
    # A draft: nothing is live yet.
    assert not store.live_dir.exists() or not any(store.live_dir.iterdir())
    assert store.read().record("welcome").live is None


def test_wav_header_is_the_canonical_44_bytes_asterisk_reads(
    store: Store, sounds: SoundsSettings, voice: Path
) -> None:
    _import(store, sounds, voice)
    blob = (store.version_dir("welcome", 1) / "welcome.wav").read_bytes()
    assert blob[36:40] == b"data"  # no LIST/INFO chunk before the data
    raw = (store.version_dir("welcome", 1) / "welcome.sln").read_bytes()
    assert blob[44:] == raw  # the WAV is the 8 kHz slin with a header
    assert len((store.version_dir("welcome", 1) / "welcome.sln16").read_bytes()) in range(
        2 * len(raw) - 8, 2 * len(raw) + 9
    )


def test_leading_and_trailing_silence_is_trimmed_and_a_quiet_voice_levelled(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    padded = sox(tmp_path / "padded.wav", "gain", "-24", "pad", "2.5", "3", source=voice)

    done = _import(store, sounds, padded)

    assert done.levels.duration_s == pytest.approx(voice_seconds(voice) + 5.5, abs=0.05)
    assert done.levels.lead_s >= 2.4
    assert done.levels.trail_s >= 2.9
    assert done.version.duration_s < voice_seconds(voice) + 0.35  # 0.15 s kept at each end
    assert done.version.gain_db > 20
    samples, _ = samples_of(store.version_dir("welcome", 1) / "welcome.sln")
    assert -22.5 <= dbfs_rms(samples) <= -17.5
    assert dbfs_peak(samples) <= -3.0


def voice_seconds(path: Path) -> float:
    samples, rate = len(path.read_bytes()) - 44, 22050
    return samples / 2 / rate


def test_resampling_does_not_alias_a_6khz_tone_into_the_8khz_files(
    store: Store, sounds: SoundsSettings, tmp_path: Path
) -> None:
    # pydub's set_frame_rate would fold 6 kHz down to 2 kHz at about -11 dBFS.
    tone = sox(tmp_path / "tone.wav", "synth", "2", "sine", "6000", "gain", "-6", rate=48000)

    _import(store, sounds, tone)

    directory = store.version_dir("welcome", 1)
    narrow, _ = samples_of(directory / "welcome.sln")
    wide, _ = samples_of(directory / "welcome.sln16")
    assert dbfs_rms(narrow) < -45  # above 4 kHz: filtered out, not folded back
    assert dbfs_rms(wide) > -22  # below 8 kHz: kept in the 16 kHz file


def _reason(store: Store, sounds: SoundsSettings, upload: Path, prompt_id: str = "welcome") -> str:
    before = _tree(store.root)
    with pytest.raises(Rejected) as caught:
        _import(store, sounds, upload, prompt_id)
    assert _tree(store.root) == before  # a refused upload stores nothing
    assert not list((store.root / "versions").rglob("*.alaw")) if store.root.exists() else True
    return str(caught.value)


def test_silence_is_refused(store: Store, sounds: SoundsSettings, tmp_path: Path) -> None:
    digital = tmp_path / "digital.ogg"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000",
            "-t",
            "3",
            "-c:a",
            "libopus",
            str(digital),
        ],
        check=True,
    )
    dithered = sox(tmp_path / "room.wav", "trim", "0", "3")  # sox dithers: -90 dBFS, not zero
    assert _reason(store, sounds, digital) == (
        "silent: there is no sound at all; check the microphone and record again"
    )
    assert _reason(store, sounds, dithered).startswith("silent: the loudest point is -9")


def test_near_silence_is_refused_with_its_level(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    hiss = sox(tmp_path / "hiss.wav", "gain", "-55", source=voice)
    reason = _reason(store, sounds, hiss)
    assert reason.startswith("silent: the loudest point is -5")
    assert "microphone" in reason


def test_clipped_audio_is_refused(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    clipped = sox(tmp_path / "clipped.wav", "gain", "15", source=voice)
    reason = _reason(store, sounds, clipped)
    assert reason.startswith("clipped: ")
    assert "full scale" in reason


def test_a_text_file_named_wav_is_refused(
    store: Store, sounds: SoundsSettings, tmp_path: Path
) -> None:
    fake = tmp_path / "ghi-am.wav"
    fake.write_text("RIFF? no: Xin chào, this is not audio\n" * 20)
    assert _reason(store, sounds, fake).startswith("not a readable audio file: ")


def test_a_riff_header_with_garbage_is_refused(
    store: Store, sounds: SoundsSettings, tmp_path: Path
) -> None:
    fake = tmp_path / "broken.wav"
    fake.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    assert _reason(store, sounds, fake).startswith("not a readable audio file: ")


def test_an_image_is_not_audio(store: Store, sounds: SoundsSettings, tmp_path: Path) -> None:
    png = tmp_path / "photo.m4a"
    encode_args = ("-frames:v", "1", "-f", "image2", "-c:v", "png")
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=red:s=64x64",
            *encode_args,
            str(png),
        ],
        check=True,
    )
    assert _reason(store, sounds, png) == "not a readable audio file: it has no sound track"


def test_an_oversized_file_is_refused_before_decoding(
    store: Store, voice: Path, tmp_path: Path
) -> None:
    sounds = SoundsSettings(dir=tmp_path / "sounds", max_upload_bytes=100_000)
    big = sox(tmp_path / "long.wav", "repeat", "2", source=voice)  # ~500 kB of real speech
    reason = _reason(store, sounds, big)
    assert reason.startswith("the file is 0.")
    assert reason.endswith("the limit is 0.1 MB")


def test_too_long_and_too_short_are_refused(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    long = sox(tmp_path / "long.wav", "synth", "70", "sine", "440", "gain", "-12")
    blip = sox(tmp_path / "blip.wav", "synth", "0.1", "sine", "440", "gain", "-12", "pad", "1", "1")
    assert _reason(store, sounds, long) == "too long: more than 60 s (the limit for one prompt)"
    assert _reason(store, sounds, blip).startswith("too short: 0.")


def test_empty_and_missing_files_are_refused(
    store: Store, sounds: SoundsSettings, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert _reason(store, sounds, empty) == "the file is empty (0 bytes)"
    assert _reason(store, sounds, tmp_path / "nope.wav").endswith("nope.wav does not exist")


def test_an_unknown_prompt_id_is_refused_with_suggestions(
    store: Store, sounds: SoundsSettings, voice: Path
) -> None:
    reason = _reason(store, sounds, voice, prompt_id="welcom")
    assert reason == "unknown prompt id 'welcom'; did you mean welcome?"
    assert _reason(store, sounds, voice, prompt_id="../etc/passwd").startswith("unknown prompt id")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.wav", "passwd.wav"),
        ("C:\\Users\\lan\\Ghi âm 01.m4a", "Ghi âm 01.m4a"),
        ("a;rm -rf $HOME`.ogg", "a_rm -rf _HOME_.ogg"),
        ("\x00\x1b[31m.wav", "_31m.wav"),
        ("...", "upload"),
        ("x" * 200 + ".webm", "x" * 75 + ".webm"),
    ],
)
def test_uploaded_file_names_are_made_safe(given: str, kept: str) -> None:
    assert safe_file_name(given) == kept


def test_versions_number_up_and_keep_who_and_the_original_name(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    first = import_recording(
        store, sounds, SCRIPTS, "welcome", voice, by="Lan", file_name="../lan 1.wav", at="t1"
    )
    second = import_recording(
        store, sounds, SCRIPTS, "welcome", voice, by="Minh\nHacker", file_name="b.wav", at="t2"
    )
    record = store.read().record("welcome")
    assert [v.number for v in record.versions] == [1, 2]
    assert (first.version.by, first.version.file_name, first.version.created_at) == (
        "Lan",
        "lan 1.wav",
        "t1",
    )
    assert second.version.by == "Minh Hacker"  # one line in the manifest and the logs
    assert record.versions[1].text == SCRIPTS["welcome"]
    assert [describe(e) for e in record.history] == [
        "Lan: nhập bản thu v1 (bản nháp)",
        "Minh Hacker: nhập bản thu v2 (bản nháp)",
    ]


def test_a_four_channel_wav_is_mixed_down_by_ffmpeg(
    store: Store, sounds: SoundsSettings, voice: Path, tmp_path: Path
) -> None:
    quad = encode(voice, tmp_path / "quad.wav", "-ac", "4")
    done = _import(store, sounds, quad)
    samples, rate = samples_of(store.version_dir("welcome", 1) / "welcome.wav")
    assert rate == 8000
    assert -22.5 <= dbfs_rms(samples) <= -17.5
    assert done.version.duration_s > 2
