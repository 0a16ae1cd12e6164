"""Real audio for the voice-prompt tests, made with sox, ffmpeg and espeak-ng; and checks.

Nothing here is a test: the helpers generate inputs (speech, tones, silence,
clipped audio, browser and phone formats) and read outputs the way Asterisk's
format modules would (raw A-law/μ-law/slin, canonical WAV).
"""

from __future__ import annotations

import math
import struct
import subprocess
from array import array
from pathlib import Path

from prompts.catalog import Catalog, Prompt
from prompts.coverage import Script

SCRIPTS = {
    "welcome": "Xin chào, đây là tổng đài tra cứu hồ sơ một cửa.",
    "enter_code": "Vui lòng nhập mã hồ sơ, kết thúc bằng phím thăng.",
    "goodbye": "Cảm ơn Ông Bà đã gọi. Xin chào.",
}


def small_catalog() -> list[Script]:
    return [Script(pid, text, "system", "Giọng đều.") for pid, text in SCRIPTS.items()]


def real_catalog_shape() -> Catalog:
    """The catalog loader's own type, to check the service accepts it."""
    return Catalog(Prompt(pid, text, "system", "Giọng đều.") for pid, text in SCRIPTS.items())


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def speech(path: Path, text: str = SCRIPTS["welcome"], rate: int = 150) -> Path:
    run("espeak-ng", "-v", "vi", "-s", str(rate), "-w", str(path), text)
    return path


def sox(path: Path, *effects: str, source: Path | None = None, rate: int = 16000) -> Path:
    """sox: transform `source`, or synthesise (`-n`) at `rate` mono 16-bit."""
    if source is None:
        run("sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(path), *effects)
    else:
        run("sox", str(source), str(path), *effects)
    return path


def encode(source: Path, path: Path, *options: str) -> Path:
    run("ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(source), *options, str(path))
    return path


def samples_of(path: Path) -> tuple[array[int], int]:
    """Decode one of our output files as Asterisk would: by its extension."""
    fmt = path.suffix.lstrip(".")
    if fmt == "wav":
        return parse_canonical_wav(path.read_bytes())
    if fmt in ("alaw", "ulaw"):
        decoded = subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-f",
                "alaw" if fmt == "alaw" else "mulaw",
                "-ar",
                "8000",
                "-ac",
                "1",
                "-i",
                str(path),
                "-f",
                "s16le",
                "-",
            ],
            check=True,
            capture_output=True,
        ).stdout
        return _s16(decoded), 8000
    return _s16(path.read_bytes()), 16000 if fmt == "sln16" else 8000


def _s16(data: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(data)
    return samples


def parse_canonical_wav(blob: bytes) -> tuple[array[int], int]:
    """The 44-byte header Asterisk's format_wav.c reads: PCM, mono, 16-bit, 8 or 16 kHz."""
    riff, size, wave, fmt, fmt_size = struct.unpack_from("<4sI4s4sI", blob)
    codec, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", blob, 20)
    data_id, data_size = struct.unpack_from("<4sI", blob, 36)
    assert (riff, wave, fmt, fmt_size) == (b"RIFF", b"WAVE", b"fmt ", 16)
    assert (codec, channels, bits, align) == (1, 1, 16, 2)
    assert rate in (8000, 16000)
    assert byte_rate == rate * 2
    assert data_id == b"data"
    assert data_size == len(blob) - 44
    assert size == len(blob) - 8
    return _s16(blob[44:]), rate


def dbfs_rms(samples: array[int]) -> float:
    if not samples:
        return -math.inf
    mean = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(mean / 32768**2) if mean else -math.inf


def dbfs_peak(samples: array[int]) -> float:
    peak = max((abs(s) for s in samples), default=0)
    return 20 * math.log10(peak / 32768) if peak else -math.inf
