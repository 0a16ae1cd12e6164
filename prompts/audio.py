"""Audio for Asterisk: decode anything ffmpeg reads, check it, level it, write every format.

Owns the sound itself: decoding (ffmpeg, or the stdlib for plain PCM WAV),
measuring (pydub: RMS, peak, clipping, leading/trailing silence), trimming and
levelling, and writing the five files Asterisk picks from by codec: `.alaw`,
`.ulaw`, `.sln` (8 kHz s16le mono raw), `.sln16` (16 kHz) and `.wav` (8 kHz mono
16-bit, canonical 44-byte header). Resampling is always ffmpeg's: pydub's
`set_frame_rate()` aliases audibly (a 6 kHz tone survives at about -11 dBFS).

Refuses: any knowledge of prompt ids, versions or the manifest (prompts/store.py),
and running inside a call: callers run it ahead of time, in the CLI or a worker
thread. pydub is untyped and stops here.
"""

from __future__ import annotations

import math
import struct
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():
    # pydub imports audioop, deprecated from Python 3.11 (audioop-lts replaces it on 3.13).
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

FORMATS: tuple[str, ...] = ("alaw", "ulaw", "sln", "sln16", "wav")

# Per-format ffmpeg encoder options. Raw formats carry no header: Asterisk knows them
# by extension (format_pcm.c: alaw/ulaw 8 kHz; format_sln.c: sln 8 kHz, sln16 16 kHz).
# format_wav.c accepts only PCM 16-bit mono at 8 or 16 kHz; bitexact keeps ffmpeg from
# adding a LIST/INFO chunk, so the header is the canonical 44 bytes.
_ENCODE: dict[str, tuple[str, ...]] = {
    "alaw": ("-c:a", "pcm_alaw", "-f", "alaw"),
    "ulaw": ("-c:a", "pcm_mulaw", "-f", "mulaw"),
    "sln": ("-c:a", "pcm_s16le", "-f", "s16le"),
    "sln16": ("-c:a", "pcm_s16le", "-f", "s16le"),
    "wav": (
        *("-c:a", "pcm_s16le", "-map_metadata", "-1"),
        *("-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "wav"),
    ),
}
RATES: dict[str, int] = {"alaw": 8000, "ulaw": 8000, "sln": 8000, "sln16": 16000, "wav": 8000}
# Bytes per second of each format, to read a duration off a file size.
BYTES_PER_S: dict[str, int] = {"alaw": 8000, "ulaw": 8000, "sln": 16000, "sln16": 32000}
WAV_HEADER_BYTES = 44

TARGET_RMS_DBFS = -20.0
PEAK_CEILING_DBFS = -3.0
# The ceiling is checked at the source rate; resampling to 8 kHz can add a little
# overshoot, so aim half a decibel lower.
_PEAK_AIM_DBFS = PEAK_CEILING_DBFS - 0.5
SILENT_PEAK_DBFS = -45.0  # a recording whose loudest point is below this has no voice in it
CLIP_LEVEL = 32256  # |sample| within 0.14 dB of full scale: high byte 0x7E/0x7F or 0x80/0x81
CLIPPED_SHARE_MAX = 0.001  # more than 0.1 % of samples at full scale: the input was clipped
KEEP_SILENCE_S = 0.15  # kept before and after the voice, so onsets are not cut
_FFMPEG_TIMEOUT_S = 120.0


class Rejected(Exception):
    """Audio that cannot become a prompt; the message says why, in words staff can act on."""


class ToolFailed(Exception):
    """ffmpeg failed or is missing: a fault of this machine, not of the input."""


@dataclass(frozen=True)
class Pcm:
    """Signed 16-bit little-endian mono samples."""

    data: bytes
    rate: int

    @property
    def duration_s(self) -> float:
        return len(self.data) / 2 / self.rate


@dataclass(frozen=True)
class Levels:
    duration_s: float
    rms_dbfs: float
    peak_dbfs: float
    clipped_share: float  # of samples at full scale
    lead_s: float  # silence before the voice
    trail_s: float  # silence after it


@dataclass(frozen=True)
class Prepared:
    """Trimmed PCM and the gain that brings it to the house level."""

    pcm: Pcm
    gain_db: float
    levels: Levels  # of the untrimmed input

    @property
    def rms_dbfs(self) -> float:
        """Expected RMS level after the gain."""
        return _dbfs(_segment(self.pcm).rms) + self.gain_db


def _dbfs(value: float) -> float:
    return 20 * math.log10(value / 32768) if value > 0 else -math.inf


def _segment(pcm: Pcm) -> AudioSegment:
    return AudioSegment(data=pcm.data, sample_width=2, frame_rate=pcm.rate, channels=1)


def parse_wav(blob: bytes) -> Pcm:
    """PCM 16-bit mono or stereo WAV bytes to mono; ValueError if not that (ffmpeg then).

    Tolerates the streaming header ffmpeg and espeak-ng write to a pipe (data size
    0 or 0xFFFFFFFF): the data chunk then runs to the end.
    """
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, rate, channels, bits, codec = 12, 0, 0, 0, 0
    while pos + 8 <= len(blob):
        chunk, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            codec, channels, rate = struct.unpack_from("<HHI", blob, body)
            bits = struct.unpack_from("<H", blob, body + 14)[0]
        elif chunk == b"data":
            if codec not in (1, 0xFFFE) or bits != 16 or not 1 <= channels <= 2 or rate <= 0:
                raise ValueError(f"not 16-bit PCM (codec {codec}, {bits} bits)")
            end = len(blob) if size in (0, 0xFFFFFFFF) else min(len(blob), body + size)
            frame = 2 * channels
            data = blob[body : body + (end - body) // frame * frame]
            segment = AudioSegment(data=data, sample_width=2, frame_rate=rate, channels=channels)
            return Pcm(segment.set_channels(1).raw_data, rate)
        pos = body + size + (size & 1)
    raise ValueError("no data chunk")


def _ffmpeg(ffmpeg: str, args: Sequence[str], stdin: bytes | None = None) -> bytes:
    command = [ffmpeg, "-hide_banner", "-loglevel", "error"]
    command += ["-nostdin", *args] if stdin is None else list(args)
    try:
        done = subprocess.run(
            command, input=stdin, capture_output=True, timeout=_FFMPEG_TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise ToolFailed(f"{ffmpeg} is not installed (Debian package ffmpeg)") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolFailed(f"{ffmpeg} took more than {_FFMPEG_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise subprocess.CalledProcessError(
            done.returncode, command, done.stdout, "\n".join(message)
        )
    return done.stdout


def decode(source: Path | bytes, *, max_s: float, ffmpeg: str = "ffmpeg") -> Pcm:
    """Any audio ffmpeg reads (WAV, MP3, OGG/Opus, WebM, M4A…) to mono PCM at its own rate.

    Reads at most `max_s` + 1 s, so a tiny file that would decode to hours of audio
    cannot fill the memory; the caller compares the duration with its limit.
    """
    blob = source if isinstance(source, bytes) else None
    if blob is None and isinstance(source, Path):
        with source.open("rb") as head:
            start = head.read(12)
        if start[:4] == b"RIFF" and start[8:12] == b"WAVE":
            blob = source.read_bytes()
    if blob is not None and blob[:4] == b"RIFF":
        try:
            pcm = parse_wav(blob)
        except (ValueError, struct.error):
            pass  # compressed or odd WAV: ffmpeg knows more
        else:
            limit = int((max_s + 1) * pcm.rate) * 2
            return Pcm(pcm.data[:limit], pcm.rate)
    limit_s = f"{max_s + 1:.3f}"
    src = "pipe:0" if isinstance(source, bytes) else str(source)
    args = ["-i", src, "-map", "0:a:0", "-vn", "-ac", "1", "-t", limit_s]
    args += ["-c:a", "pcm_s16le", "-f", "wav", "pipe:1"]
    try:
        out = _ffmpeg(ffmpeg, args, stdin=source if isinstance(source, bytes) else None)
    except subprocess.CalledProcessError as exc:
        detail = str(exc.stderr or "").strip().splitlines()
        why = detail[-1] if detail else f"exit status {exc.returncode}"
        if any("matches no streams" in line for line in detail):
            why = "it has no sound track"
        raise Rejected(f"not a readable audio file: {why}") from None
    try:
        pcm = parse_wav(out)
    except (ValueError, struct.error) as exc:
        raise Rejected(f"not a readable audio file: {exc}") from None
    if not pcm.data:
        raise Rejected("not a readable audio file: it contains no sound")
    return pcm


def _clipped_share(pcm: Pcm, peak: int) -> float:
    if peak < CLIP_LEVEL or not pcm.data:
        return 0.0
    # The high byte of each little-endian sample is 0x7E/0x7F at >= 32256 and 0x80/0x81 at
    # <= -32257: counting those bytes is exact at that level, and C-fast (no Python loop).
    high = pcm.data[1::2]
    hits = sum(high.count(b) for b in (b"\x7e", b"\x7f", b"\x80", b"\x81"))
    return hits / len(high)


def measure(pcm: Pcm) -> Levels:
    """Duration, RMS and peak (dBFS), the share of clipped samples, and the silent ends."""
    segment = _segment(pcm)
    peak = int(segment.max)
    peak_dbfs = _dbfs(peak)
    # Voice starts where a 10 ms window rises within 40 dB of the peak (and above -60 dBFS):
    # relative, so a noisy room's floor counts as silence too.
    threshold = max(peak_dbfs - 40.0, -60.0)
    lead_ms = detect_leading_silence(segment, silence_threshold=threshold, chunk_size=10)
    trail_ms = detect_leading_silence(segment.reverse(), silence_threshold=threshold, chunk_size=10)
    duration = pcm.duration_s
    return Levels(
        duration_s=duration,
        rms_dbfs=_dbfs(segment.rms),
        peak_dbfs=peak_dbfs,
        clipped_share=_clipped_share(pcm, peak),
        lead_s=min(lead_ms / 1000, duration),
        trail_s=min(trail_ms / 1000, duration),
    )


def check(levels: Levels, *, min_s: float, max_s: float) -> None:
    """Raise Rejected, with the reason, for audio that must not become a prompt."""
    if levels.duration_s > max_s:
        raise Rejected(f"too long: more than {max_s:g} s (the limit for one prompt)")
    if levels.peak_dbfs == -math.inf:
        raise Rejected("silent: there is no sound at all; check the microphone and record again")
    if levels.peak_dbfs < SILENT_PEAK_DBFS:
        raise Rejected(
            f"silent: the loudest point is {levels.peak_dbfs:.1f} dBFS (a voice needs more than "
            f"{SILENT_PEAK_DBFS:g}); check the microphone and record again"
        )
    if levels.clipped_share > CLIPPED_SHARE_MAX:
        raise Rejected(
            f"clipped: {levels.clipped_share:.1%} of the samples are at full scale, so the voice "
            "is distorted; record again further from the microphone or with a lower input gain"
        )
    voiced = levels.duration_s - levels.lead_s - levels.trail_s
    if voiced < min_s:
        raise Rejected(f"too short: {max(voiced, 0):.2f} s of voice (needs at least {min_s:g} s)")


def prepare(pcm: Pcm, levels: Levels) -> Prepared:
    """Trim the silent ends (keeping a short margin) and choose the gain.

    The gain brings the RMS to about -20 dBFS unless that would push the peaks above
    -3 dBFS; then the peaks decide and the result is a little quieter.
    """
    start = max(levels.lead_s - KEEP_SILENCE_S, 0.0)
    end = min(levels.duration_s - levels.trail_s + KEEP_SILENCE_S, levels.duration_s)
    first, last = int(start * pcm.rate) * 2, int(end * pcm.rate) * 2
    trimmed = Pcm(pcm.data[first:last], pcm.rate)
    segment = _segment(trimmed)
    rms_db, peak_db = _dbfs(segment.rms), _dbfs(segment.max)
    gain = min(TARGET_RMS_DBFS - rms_db, _PEAK_AIM_DBFS - peak_db) if segment.max else 0.0
    return Prepared(trimmed, round(gain, 2), levels)


@dataclass(frozen=True)
class Job:
    """One prompt to write: its prepared audio, and the directory for its five files."""

    prepared: Prepared
    out_dir: Path
    name: str


def write_formats(jobs: Sequence[Job], *, ffmpeg: str = "ffmpeg") -> None:
    """Write every format of every job with ONE ffmpeg run (each run costs ~0.1 s to start).

    Files are made readable by everyone (0644): Asterisk usually runs as its own user.
    The caller writes into a temporary directory and renames it into place.
    """
    if not jobs:
        return
    with tempfile.TemporaryDirectory(prefix="tracuu-pcm-") as scratch:
        inputs: list[str] = []
        graph: list[str] = []
        outputs: list[str] = []
        for index, job in enumerate(jobs):
            raw = Path(scratch) / f"{index}.raw"
            raw.write_bytes(job.prepared.pcm.data)
            inputs += ["-f", "s16le", "-ar", str(job.prepared.pcm.rate), "-ac", "1"]
            inputs += ["-i", str(raw)]
            job.out_dir.mkdir(parents=True, exist_ok=True)
            # One gain and one resampler per rate, shared by the formats at that rate.
            narrow = [f"[n{index}{fmt}]" for fmt in FORMATS if RATES[fmt] == 8000]
            graph.append(
                f"[{index}:a]volume={job.prepared.gain_db:.2f}dB,asplit=2[a{index}][b{index}];"
                f"[a{index}]aresample=8000,asplit={len(narrow)}{''.join(narrow)};"
                f"[b{index}]aresample=16000[w{index}sln16]"
            )
            for fmt in FORMATS:
                label = f"[w{index}{fmt}]" if RATES[fmt] == 16000 else f"[n{index}{fmt}]"
                outputs += ["-map", label, *_ENCODE[fmt], str(job.out_dir / f"{job.name}.{fmt}")]
        try:
            _ffmpeg(ffmpeg, ["-y", *inputs, "-filter_complex", ";".join(graph), *outputs])
        except subprocess.CalledProcessError as exc:
            raise ToolFailed(f"ffmpeg could not write the prompt files: {exc.stderr}") from None
    for job in jobs:
        for fmt in FORMATS:
            (job.out_dir / f"{job.name}.{fmt}").chmod(0o644)


def duration_of(path: Path) -> float | None:
    """Seconds of audio in one of our files, from its size; None when unknown."""
    fmt = path.suffix.lstrip(".")
    size = path.stat().st_size
    if fmt == "wav":
        return max(size - WAV_HEADER_BYTES, 0) / 16000
    per_s = BYTES_PER_S.get(fmt)
    return size / per_s if per_s else None
