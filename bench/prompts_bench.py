"""Benchmark the voice prompts: offline render of the catalog, cached re-render, a recording.

    .venv/bin/python bench/prompts_bench.py              # 3 runs of each, median reported
    .venv/bin/python bench/prompts_bench.py --runs 1

Goals (docs/benchmarks.md, "Voice prompts"): a staff recording ready in every
Asterisk format in <= 1 s; a cached re-render of the unchanged catalog <= 1 s.
Everything runs for real: espeak-ng synthesises, ffmpeg converts, files are
written and renamed in a temp directory (which is on the same disk as /tmp).
The recordings are 10 s of espeak-ng speech saved as a phone would (44.1 kHz
stereo WAV) and as Chrome's MediaRecorder does (48 kHz Opus in WebM).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prompts.catalog import load_catalog
from prompts.database import PromptDb
from prompts.recordings import import_recording
from prompts.render import render_placeholders
from prompts.settings import SoundsSettings
from prompts.store import Store
from prompts.tts import EspeakSynthesizer

SENTENCE = "Hồ sơ của Ông Bà đã có kết quả. Mời Ông Bà đến Bộ phận Một cửa để nhận kết quả."


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _ten_seconds(directory: Path) -> tuple[Path, Path]:
    speech = directory / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-v", "vi", "-s", "150", "-w", str(speech), f"{SENTENCE} {SENTENCE}"],
        check=True,
    )
    wav, webm = directory / "ten.wav", directory / "ten.webm"
    base = [
        "ffmpeg",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-stream_loop",
        "-1",
        "-i",
        str(speech),
    ]
    subprocess.run([*base, "-t", "10", "-ar", "44100", "-ac", "2", str(wav)], check=True)
    subprocess.run([*base, "-t", "10", "-ar", "48000", "-c:a", "libopus", str(webm)], check=True)
    return wav, webm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    scripts = {p.id: p.text for p in catalog}
    cold: list[float] = []
    cached: list[float] = []
    imports: dict[str, list[float]] = {"wav": [], "webm": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="tracuu-bench-") as scratch:
            root = Path(scratch)
            sounds = SoundsSettings(dir=root / "sounds")
            db = PromptDb.open(root / "prompts.sqlite3")  # versions and audio go to a database
            try:
                store = Store(sounds.dir, sounds.store_dir, db)
                synth = EspeakSynthesizer()
                render = partial(render_placeholders, store, scripts, synth)
                cold.append(_timed(render))
                cached.append(_timed(render))
                wav, webm = _ten_seconds(root)
                prompt_id = next(iter(scripts))
                for name, upload in (("wav", wav), ("webm", webm)):
                    work = partial(
                        import_recording, store, sounds, scripts, prompt_id, upload, by="b"
                    )
                    imports[name].append(_timed(work))
            finally:
                db.close()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True)
    print(f"ffmpeg: {ffmpeg.stdout.splitlines()[0]}")
    print(f"catalog: {len(scripts)} prompts; runs: {args.runs} (median, min-max)")
    for label, values in (
        ("render whole catalog, espeak-ng, cold", cold),
        ("re-render unchanged catalog (cached)", cached),
        ("import 10 s WAV 44.1 kHz stereo -> 5 formats", imports["wav"]),
        ("import 10 s WebM/Opus 48 kHz -> 5 formats", imports["webm"]),
    ):
        print(
            f"  {label:<46} {statistics.median(values):6.2f} s  "
            f"({min(values):.2f}-{max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
