"""Placeholders: every prompt without an approved recording, spoken by TTS, ahead of time.

A placeholder is cached by (spelt-out text, engine, voice, pipeline): re-rendering
an unchanged catalog synthesises nothing and runs no ffmpeg; a changed script
re-renders only that prompt. Synthesis runs a few prompts at a time (each result
names the engine that made it, so a breaker tripping half-way keys the rest right),
then ONE ffmpeg run per batch writes every format of every new placeholder.
Each cache entry is built in a temp directory and renamed into place, so a
killed render leaves no half entry.

Refuses: rendering during a call (the CLI, start-up or a background thread call
this), and replacing a live staff recording (a placeholder goes live only where
nothing else is).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kernel.db import Conn
from messages.numbers import Region
from messages.parts import clean_text, dynamic_prompt_id
from prompts import audio, rows
from prompts.spoken import spell_for_speech
from prompts.store import Store, StoreError, file_infos, make_dirs
from prompts.tts import Speech, SynthesisFailed, Synthesizer
from prompts.versions import PromptRecord, Version, set_placeholder

log = logging.getLogger(__name__)

# Bump when the audio processing changes, so every placeholder is made again.
PIPELINE = "1"
# Prompts per ffmpeg run: measured fastest per prompt (a run with 24 inputs costs more
# than two runs of 12: ffmpeg interleaves every output).
_BATCH = 12
_MAX_TTS_S = 120.0
# espeak-ng is one process per prompt (~30 ms); gTTS one HTTPS request: a few at a time.
_SYNTH_WORKERS = min(4, os.cpu_count() or 1)


def cache_key(spoken: str, engine: str, voice: str) -> str:
    blob = "\0".join((PIPELINE, engine, voice, spoken)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RenderResult:
    rendered: list[str] = field(default_factory=list)  # synthesised now
    reused: list[str] = field(default_factory=list)  # same text found in the cache
    unchanged: list[str] = field(default_factory=list)  # placeholder already live and current
    recorded: list[str] = field(default_factory=list)  # a staff recording is live: left alone
    repaired: list[str] = field(default_factory=list)  # live files were missing or damaged
    failed: dict[str, str] = field(default_factory=dict)  # prompt id -> reason
    engine: str = ""

    def summary(self) -> str:
        return (
            f"{len(self.rendered)} rendered, {len(self.reused)} from cache, "
            f"{len(self.unchanged)} unchanged, {len(self.recorded)} recorded, "
            f"{len(self.repaired)} repaired, "
            f"{len(self.failed)} failed"
        )


@dataclass(frozen=True)
class _Entry:
    key: str
    meta: dict[str, str | float]


def _read_entry(store: Store, key: str) -> _Entry | None:
    directory = store.tts_dir(key)
    try:
        meta = json.loads((directory / "meta.json").read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    if not all((directory / f"audio.{fmt}").is_file() for fmt in audio.FORMATS):
        return None
    return _Entry(key, meta)


def _version(store: Store, entry: _Entry, text: str) -> Version:
    meta = entry.meta
    return Version(
        number=0,
        source="tts",
        created_at=str(meta["created_at"]),
        text=text,
        files=file_infos(store.tts_dir(entry.key), "audio"),
        duration_s=float(meta["duration_s"]),
        engine=str(meta["engine"]),
        voice=str(meta["voice"]),
        key=entry.key,
        gain_db=float(meta["gain_db"]),
        rms_dbfs=float(meta["rms_dbfs"]),
    )


def _build_batch(
    store: Store, batch: list[tuple[str, str, bytes, str, str]], ffmpeg: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Process one batch of synthesised audio into cache entries with one ffmpeg run."""
    keys: dict[str, str] = {}
    failed: dict[str, str] = {}
    jobs: list[tuple[str, str, Path, audio.Job, dict[str, str | float]]] = []
    for key, text, blob, engine, voice in batch:
        try:
            pcm = audio.decode(blob, max_s=_MAX_TTS_S, ffmpeg=ffmpeg)
            levels = audio.measure(pcm)
            audio.check(levels, min_s=0.05, max_s=_MAX_TTS_S)
        except (audio.Rejected, audio.ToolFailed) as exc:
            failed[text] = f"{engine} output unusable: {exc}"
            continue
        prepared = audio.prepare(pcm, levels)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=store.root / "tts"))
        meta: dict[str, str | float] = {
            "engine": engine,
            "voice": voice,
            "text": text,
            "created_at": now_iso(),
            "duration_s": round(prepared.pcm.duration_s, 3),
            "gain_db": prepared.gain_db,
            "rms_dbfs": round(prepared.rms_dbfs, 2),
        }
        jobs.append((key, text, tmp, audio.Job(prepared, tmp, "audio"), meta))
    try:
        audio.write_formats([job for _, _, _, job, _ in jobs], ffmpeg=ffmpeg)
    except audio.ToolFailed as exc:
        for _, text, tmp, _, _ in jobs:
            failed[text] = str(exc)
            shutil.rmtree(tmp, ignore_errors=True)
        return keys, failed
    for key, text, tmp, _, meta in jobs:
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        tmp.chmod(0o755)
        try:
            tmp.rename(store.tts_dir(key))
        except OSError:  # a concurrent render made the same entry first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        keys[text] = key
    return keys, failed


def _build(
    store: Store, pending: list[tuple[str, str, bytes, str, str]], ffmpeg: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Cache entries for every synthesised text; (key by text, failure by text).

    Batches run side by side, one ffmpeg process per CPU.
    """
    keys: dict[str, str] = {}
    failed: dict[str, str] = {}
    make_dirs(store.root / "tts")
    batches = [pending[i : i + _BATCH] for i in range(0, len(pending), _BATCH)]
    with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="ffmpeg") as pool:
        for done_keys, done_failed in pool.map(lambda b: _build_batch(store, b, ffmpeg), batches):
            keys.update(done_keys)
            failed.update(done_failed)
    return keys, failed


def render_placeholders(
    store: Store,
    scripts: Mapping[str, str],
    synthesizer: Synthesizer,
    *,
    region: Region = "north",
    ffmpeg: str = "ffmpeg",
    only_engine: str | None = None,
    stop: threading.Event | None = None,
) -> RenderResult:
    """Make sure every prompt in `scripts` (id -> Vietnamese text) has a current placeholder.

    A placeholder is current when it speaks the prompt's text now; any engine will do
    unless `only_engine` names one (`prompts render --engine gtts` upgrades espeak
    placeholders once Google is reachable). Live files that are missing or differ from
    the manifest (a process killed mid-switch, a file deleted by hand) are put back,
    recordings included. Setting `stop` ends synthesis early (gateway shutdown); what
    is done by then is kept.
    """
    result = RenderResult()
    for leftover in store.sweep():
        log.info("removed %s, left by an interrupted run", leftover)
    manifest = store.read()
    todo: dict[str, str] = {}  # prompt id -> text needing a new placeholder
    entries: dict[str, _Entry] = {}  # text -> cache entry to store
    republish: list[
        str
    ] = []  # live in the database, but this machine's files are missing or differ
    for prompt_id, text in scripts.items():
        record = manifest.record(prompt_id)
        live = record.live_version
        if live is not None and live.source == "recording":
            if store.live_matches(prompt_id, live):
                republish.append(prompt_id)
            else:
                result.recorded.append(prompt_id)
            continue
        current = record.placeholder
        if (
            current is not None
            and set(current.files) >= set(audio.FORMATS)
            and current.text == text
            and (only_engine is None or current.engine == only_engine)
            and record.live == 0
        ):
            if store.live_matches(prompt_id, current):
                republish.append(prompt_id)
            else:
                result.unchanged.append(prompt_id)
            continue
        todo[prompt_id] = text

    pending: list[tuple[str, str, bytes, str, str]] = []
    wanted: dict[str, str] = {}  # text -> spoken form, for texts not in the cache
    for text in dict.fromkeys(todo.values()):
        spoken = spell_for_speech(text, region=region)
        entry = _read_entry(store, cache_key(spoken, synthesizer.engine, synthesizer.voice))
        if entry is not None:
            entries[text] = entry
        else:
            wanted[text] = spoken
    with ThreadPoolExecutor(_SYNTH_WORKERS, thread_name_prefix="tts") as pool:
        futures = {
            text: pool.submit(_synthesize, synthesizer, spoken, stop)
            for text, spoken in wanted.items()
        }
    for text, future in futures.items():
        try:
            speech = future.result()
        except SynthesisFailed as exc:
            result.failed.update({pid: str(exc) for pid, t in todo.items() if t == text})
            continue
        # The key names the engine that really answered (a fallback may have taken over).
        key = cache_key(wanted[text], speech.engine, speech.voice)
        pending.append((key, text, speech.audio, speech.engine, speech.voice))
    fresh = {text for _, text, _, _, _ in pending}
    keys, failures = _build(store, pending, ffmpeg)
    for text, key in keys.items():
        built = _read_entry(store, key)
        if built is not None:
            entries[text] = built

    for prompt_id in republish:
        _republish(store, manifest.record(prompt_id), result)
    ready: list[tuple[str, str, _Entry]] = []
    for prompt_id, text in todo.items():
        if prompt_id in result.failed:
            continue
        entry = entries.get(text)
        if entry is None:
            result.failed[prompt_id] = failures.get(text, "no audio was produced")
            continue
        ready.append((prompt_id, text, entry))
    # A few prompts per transaction: each holds their audio in memory, and other
    # writers (an approval in the studio) wait for no more than a slice.
    for start in range(0, len(ready), _STORE_SLICE):
        for prompt_id, version in _store_placeholders(
            store, ready[start : start + _STORE_SLICE], only_engine
        ):
            store.publish(prompt_id, version)
    for prompt_id, text, _ in ready:
        (result.rendered if text in fresh else result.reused).append(prompt_id)
    result.engine = synthesizer.engine
    return result


_STORE_SLICE = 16


def _store_placeholders(
    store: Store, ready: list[tuple[str, str, _Entry]], only_engine: str | None
) -> list[tuple[str, Version]]:
    """Store placeholders as version 0 in one transaction; those that went live, to publish.

    Another gateway may have stored one for the same text meanwhile: its audio is kept
    (every gateway then plays the same placeholder)."""
    made = [(pid, text, _version(store, entry, text)) for pid, text, entry in ready]
    blobs = {
        pid: {
            fmt: (info, (store.tts_dir(version.key) / f"audio.{fmt}").read_bytes())
            for fmt, info in version.files.items()
        }
        for pid, _, version in made
    }
    at = now_iso()

    def job(conn: Conn) -> list[tuple[str, Version]]:
        generation = rows.lock(conn)
        live: list[tuple[str, Version]] = []
        for prompt_id, text, version in made:
            record = rows.load_record(conn, prompt_id)
            old = record.placeholder
            keep = (
                old is not None
                and old.text == text
                and set(old.files) >= set(audio.FORMATS)
                and (old.key == version.key or only_engine in (None, old.engine))
            )
            chosen = old if keep and old is not None else version
            if not keep:
                rows.put_audio(conn, prompt_id, 0, blobs[prompt_id])
            updated, goes_live = set_placeholder(record, chosen)
            rows.save(conn, record, updated, generation, at)
            if goes_live:
                live.append((prompt_id, chosen))
        return live

    return store.db.run(job)


def _synthesize(synthesizer: Synthesizer, spoken: str, stop: threading.Event | None) -> Speech:
    if stop is not None and stop.is_set():
        raise SynthesisFailed("stopped before synthesis (shutting down)")
    return synthesizer.synthesize(spoken)


def _republish(store: Store, record: PromptRecord, result: RenderResult) -> None:
    """Write the database's live version here again (its files are missing or damaged)."""
    version = record.live_version
    if version is None:
        return
    try:
        store.publish(record.prompt_id, version)
    except StoreError as exc:  # e.g. imported from an old manifest without its files
        result.failed[record.prompt_id] = str(exc)
        return
    log.warning(
        "live files of %s (v%d) were missing or damaged here: written again from the database",
        record.prompt_id,
        version.number,
    )
    result.repaired.append(record.prompt_id)


def render_dynamic(
    store: Store,
    texts: Iterable[str],
    synthesizer: Synthesizer,
    *,
    region: Region = "north",
    ffmpeg: str = "ffmpeg",
    stop: threading.Event | None = None,
) -> RenderResult:
    """Placeholders for free texts the answers speak (procedure names, collection places).

    Each text becomes prompt `txt_<hash>` (messages.parts.dynamic_prompt_id), the id
    the voice answers reference; the manifest remembers the text, so coverage, export
    and staff recordings see these prompts like catalogued ones.
    """
    scripts = {dynamic_prompt_id(t): clean_text(t) for t in texts if clean_text(t)}
    remember_dynamic(store, scripts)
    return render_placeholders(store, scripts, synthesizer, region=region, ffmpeg=ffmpeg, stop=stop)


def remember_dynamic(store: Store, scripts: Mapping[str, str]) -> None:
    """Record free texts (id -> text) so coverage, export and recordings see them."""
    known = store.db.run(rows.dynamic)
    new = {pid: text for pid, text in scripts.items() if known.get(pid) != text}
    if new:
        store.db.run(lambda conn: rows.put_dynamic(conn, new))
