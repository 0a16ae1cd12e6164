"""Voice prompts at start-up: check what Asterisk will play, and fill the gaps in the background.

`check(settings)` is quick (reads the manifest, checksums the live files) and logs
loudly what is missing: Asterisk plays nothing (STREAM FILE answers result=-1,
like a hang-up) or the English file for a missing Vietnamese prompt. `run(runtime)`
is the gateway component: it checks, renders missing placeholders and the dynamic
prompts (procedure, agency and office names) in a worker thread, never inside a
call, then refreshes the dynamic prompts every `sounds.refresh_s`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from gateway.runtime import Runtime
from gateway.settings import Settings
from lookup.port import DossierLookup, LookupUnavailable
from prompts.audio import FORMATS, ToolFailed
from prompts.coverage import Report, Script, build_report
from prompts.render import RenderResult, render_dynamic, render_placeholders
from prompts.settings import SoundsSettings
from prompts.store import Manifest, Store, StoreError
from prompts.tts import synthesizer_for

log = logging.getLogger(__name__)
T = TypeVar("T")


def store_for(sounds: SoundsSettings) -> Store:
    return Store(sounds.dir, sounds.store_dir)


def scripts_for(manifest: Manifest, catalog: Iterable[Script] | None = None) -> list[Script]:
    """Every prompt to cover: the catalog's, then the dynamic texts the manifest knows."""
    if catalog is None:
        from prompts.catalog import load_catalog

        catalog = [Script(p.id, p.text, p.group, p.note) for p in load_catalog()]
    scripts = list(catalog)
    known = {s.id for s in scripts}
    scripts += [
        Script(pid, text, "dynamic", "Tên thủ tục, cơ quan hoặc nơi trả kết quả; đọc rõ, đều.")
        for pid, text in manifest.dynamic.items()
        if pid not in known
    ]
    return scripts


def inspect(store: Store, scripts: Iterable[Script]) -> Report:
    """The coverage report, from the manifest and the files really on disk."""
    manifest = store.read()
    scripts = list(scripts)
    disk: dict[str, dict[str, str]] = {}
    for script in scripts:
        live = manifest.record(script.id).live_version
        if live is not None:
            problems = store.live_matches(script.id, live)
        else:
            problems = {
                fmt: "unmanaged" if store.live_path(script.id, fmt).is_file() else "missing"
                for fmt in FORMATS
            }
        if problems:
            disk[script.id] = problems
    return build_report(scripts, manifest.records, disk)


def log_report(report: Report) -> None:
    if report.missing:
        log.error(
            "VOICE PROMPTS MISSING: %d of %d have no audio, callers will hear silence or English "
            "there: %s. Run `tracuu prompts render`.",
            len(report.missing),
            len(report.rows),
            ", ".join(report.missing),
        )
    if report.incomplete:
        log.warning(
            "voice prompts with missing or damaged files (run `tracuu prompts render` to restore "
            "placeholders; re-approve recordings): %s",
            ", ".join(report.incomplete),
        )
    if report.stale:
        log.warning(
            "voice prompts whose live audio speaks an older script: %s", ", ".join(report.stale)
        )
    log.info("voice prompts: %s", report.summary())


def check(settings: Settings | SoundsSettings, catalog: Iterable[Script] | None = None) -> Report:
    """The start-up check: build the coverage report and warn loudly about gaps."""
    sounds = settings if isinstance(settings, SoundsSettings) else settings.sounds
    store = store_for(sounds)
    report = inspect(store, scripts_for(store.read(), catalog))
    log_report(report)
    return report


def render_missing(
    settings: Settings,
    engine: str | None = None,
    catalog: Iterable[Script] | None = None,
    stop: threading.Event | None = None,
) -> RenderResult:
    """Placeholders for every catalogued prompt without a live, current one (blocking)."""
    sounds = settings.sounds
    store = store_for(sounds)
    scripts = {s.id: s.text for s in scripts_for(store.read(), catalog)}
    synthesizer = synthesizer_for(
        engine or sounds.engine,
        voice=sounds.espeak_voice,
        rate_wpm=sounds.espeak_rate_wpm,
        timeout_s=sounds.gtts_timeout_s,
    )
    return render_placeholders(
        store,
        scripts,
        synthesizer,
        region=settings.region,
        ffmpeg=sounds.ffmpeg,
        only_engine="gtts" if engine == "gtts" else None,
        stop=stop,
    )


def dynamic_texts(settings: Settings, procedure_names: Iterable[str]) -> list[str]:
    """Free texts the voice answers speak: procedure, agency, office names, collection place."""
    texts = [*procedure_names, *(a.name for a in settings.agencies)]
    texts += [settings.office.name, settings.office.collection_place]
    return [t for t in dict.fromkeys(texts) if t.strip()]


async def _off_loop(work: Callable[[threading.Event], T]) -> T:
    """Run blocking work in a thread; on cancellation, tell it to stop and stop waiting."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, stop)
    except asyncio.CancelledError:
        stop.set()  # the thread finishes its current prompt, keeps what is done, and returns
        raise


async def refresh_dynamic(settings: Settings, lookup: DossierLookup) -> RenderResult:
    """Placeholders for the names the answers speak, from the lookup and the settings."""
    try:
        procedures = await lookup.procedures()
    except LookupUnavailable as exc:
        log.warning("could not list procedures for their voice prompts (%s); will retry", exc)
        procedures = []
    sounds = settings.sounds
    synthesizer = synthesizer_for(
        sounds.engine,
        voice=sounds.espeak_voice,
        rate_wpm=sounds.espeak_rate_wpm,
        timeout_s=sounds.gtts_timeout_s,
    )
    texts = dynamic_texts(settings, (p.name for p in procedures))
    result = await _off_loop(
        lambda stop: render_dynamic(
            store_for(sounds),
            texts,
            synthesizer,
            region=settings.region,
            ffmpeg=sounds.ffmpeg,
            stop=stop,
        )
    )
    if result.rendered or result.failed:
        log.info("dynamic voice prompts: %s", result.summary())
    return result


async def prepare(
    settings: Settings, lookup: DossierLookup, catalog: Iterable[Script] | None = None
) -> Report:
    """Start-up: check, render what is missing, render the dynamic prompts; the final report.

    Everything slow runs in worker threads: the event loop (and every call) goes on.
    """
    if catalog is not None:
        catalog = [Script(p.id, p.text, p.group, p.note) for p in catalog]
    await asyncio.to_thread(check, settings, catalog)
    result = await _off_loop(lambda stop: render_missing(settings, None, catalog, stop))
    log.info("voice placeholders: %s", result.summary())
    for prompt_id, reason in result.failed.items():
        log.error("voice prompt %s has no placeholder: %s", prompt_id, reason)
    await refresh_dynamic(settings, lookup)
    store = store_for(settings.sounds)
    report = await asyncio.to_thread(inspect, store, scripts_for(store.read(), catalog))
    if report.ok:
        log.info("voice prompts ready: %s", report.summary())
    else:
        log_report(report)  # still missing after rendering: say so again, loudly
    return report


# Faults of this machine (disk full, sounds directory not writable, ffmpeg missing):
# logged loudly, never fatal. Calls go on with the files already on disk.
_SURVIVABLE = (OSError, StoreError, ToolFailed)


async def run(runtime: Runtime) -> None:
    """Gateway component: prepare at start-up, then refresh the dynamic prompts periodically."""
    try:
        await prepare(runtime.settings, runtime.lookup)
    except _SURVIVABLE:
        log.exception("voice prompts could not be prepared; run `tracuu prompts status`")
    while True:
        await asyncio.sleep(runtime.settings.sounds.refresh_s)
        try:
            await refresh_dynamic(runtime.settings, runtime.lookup)
        except _SURVIVABLE:
            log.exception("dynamic voice prompts could not be rendered")
