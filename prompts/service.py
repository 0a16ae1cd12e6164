"""Voice prompts at start-up: check what Asterisk will play, and fill the gaps in the background.

`check(settings)` is quick (reads the manifest, checksums the live files) and logs
loudly what is missing: Asterisk plays nothing (STREAM FILE answers result=-1,
like a hang-up) or the English file for a missing Vietnamese prompt. `run(runtime)`
is the gateway component: on the process's one Database it creates the prompts'
tables, imports an old JSON manifest once (prompts/legacy.py), writes this
machine's sounds directory from the database and keeps it so (prompts/
materialise.py), checks, renders missing placeholders and the dynamic prompts in
a worker thread, never inside a call, then refreshes the dynamic prompts every
`sounds.refresh_s`. With several gateways, each renders only what the database
lacks: the first to store a placeholder is the one every Asterisk plays.

Dynamic prompts are every free text the voice side can speak: procedure names and
their guidance (documents, fee, processing time), agency names, the office's
name, collection place and hours (settings), and the collection places, agency and
procedure names found in the dossiers themselves (read incrementally with
lookup.changed_since; the HTTP backend cannot list them, and calls then say a
fallback). A text a call needed but did not find arrives on the bus
("prompt_wanted", prompts/wanted.py) and is rendered within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

from kernel.bus import EventBus
from kernel.db import DB_ERRORS, Database
from kernel.runtime import Runtime
from lookup.model import Procedure
from lookup.port import DossierLookup, LookupUnavailable
from messages.parts import clean_text, dynamic_prompt_id
from messages.voice import OFFICER_HOURS_PROMPT, officer_hours_script, voice_texts
from prompts.audio import ToolFailed
from prompts.coverage import Report, Script
from prompts.database import PromptDb, migrate
from prompts.inventory import inspect, scripts_for, store_for
from prompts.legacy import import_json
from prompts.materialise import Materialiser, follow
from prompts.render import RenderResult, remember_dynamic, render_dynamic, render_placeholders
from prompts.settings import PromptsConfig
from prompts.store import Store, StoreError
from prompts.tts import Synthesizer, shared_synthesizer
from prompts.wanted import PROMPT_WANTED

log = logging.getLogger(__name__)
T = TypeVar("T")


def log_report(report: Report, *, render_follows: bool = False) -> None:
    """Log the gaps. `render_follows`: the start-up render comes next, so what is missing
    now is one line with the count; prepare() logs loudly only what is still missing."""
    if report.missing and render_follows:
        log.warning(
            "voice prompts: %d of %d have no audio yet; rendering %d missing placeholders in "
            "the background",
            len(report.missing),
            len(report.rows),
            len(report.missing),
        )
    elif report.missing:
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


@contextmanager
def opened(settings: PromptsConfig, db: PromptDb | None = None) -> Iterator[PromptDb]:
    """`db`, or one opened (and migrated) for this block from settings.database (blocking:
    the CLI, tests, a worker thread)."""
    if db is not None:
        yield db
        return
    own = PromptDb.open(settings.database)
    try:
        yield own
    finally:
        own.close()


@asynccontextmanager
async def opened_async(
    settings: PromptsConfig, db: PromptDb | None = None
) -> AsyncIterator[PromptDb]:
    """opened() for a coroutine: the Database is opened and closed without blocking the loop."""
    if db is not None:
        yield db
        return
    database = await Database.open(settings.database)
    try:
        await migrate(database)
        yield PromptDb(database)
    finally:
        await database.close()


def check(
    settings: PromptsConfig,
    catalog: Iterable[Script] | None = None,
    *,
    render_follows: bool = False,
    db: PromptDb | None = None,
) -> Report:
    """The start-up check: build the coverage report and warn about gaps (loudly, unless
    a render follows that may fill them)."""
    with opened(settings, db) as prompt_db:
        store = store_for(settings.sounds, prompt_db)
        report = inspect(store, scripts_for(store.read(), catalog))
    log_report(report, render_follows=render_follows)
    return report


def render_missing(
    settings: PromptsConfig,
    engine: str | None = None,
    catalog: Iterable[Script] | None = None,
    stop: threading.Event | None = None,
    db: PromptDb | None = None,
) -> RenderResult:
    """Placeholders for every catalogued prompt without a live, current one (blocking)."""
    with opened(settings, db) as prompt_db:
        return _render_missing(
            settings, store_for(settings.sounds, prompt_db), engine, catalog, stop
        )


def _render_missing(
    settings: PromptsConfig,
    store: Store,
    engine: str | None,
    catalog: Iterable[Script] | None,
    stop: threading.Event | None,
) -> RenderResult:
    sounds = settings.sounds
    scripts = {s.id: s.text for s in scripts_for(store.read(), catalog)}
    synthesizer = shared_synthesizer(
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


def dynamic_texts(
    settings: PromptsConfig, procedures: Iterable[Procedure], from_dossiers: Iterable[str] = ()
) -> list[str]:
    """Every free text the voice side speaks: the guidance menu's (messages.voice.voice_texts),
    the office's name, collection place and hours, and texts found in dossiers."""
    texts = voice_texts(procedures, (a.name for a in settings.agencies))
    office = settings.office
    texts += [office.name, office.collection_place, office.hours, *from_dossiers]
    return [t for t in dict.fromkeys(clean_text(t) for t in texts) if t]


def settings_scripts(settings: PromptsConfig) -> dict[str, str]:
    """Prompts with a fixed id whose script comes from the settings (the office hours the
    call flow and the dialplan's fallback say after "ivr_officer_closed")."""
    return {OFFICER_HOURS_PROMPT: officer_hours_script(settings.agi.hours)}


class DossierTexts:
    """Collection places, agency and procedure names met in the dossiers, read page by
    page with lookup.changed_since; the cursor lives in memory (a restart reads again)."""

    PAGE = 500
    MAX_PAGES = 200  # per refresh: a huge first import is finished by later refreshes

    def __init__(self) -> None:
        self.cursor = ""
        self.texts: dict[str, None] = {}

    async def collect(self, lookup: DossierLookup) -> list[str]:
        """Read the changes since the last call; every text known so far, in first-seen order."""
        try:
            for _ in range(self.MAX_PAGES):
                changes = await lookup.changed_since(self.cursor, self.PAGE)
                for dossier in changes.dossiers:
                    for text in (
                        dossier.collection_place,
                        dossier.agency_name,
                        dossier.procedure_name,
                    ):
                        cleaned = clean_text(text)
                        if cleaned:
                            self.texts.setdefault(cleaned, None)
                self.cursor = changes.cursor
                if not changes.more:
                    break
        except LookupUnavailable as exc:  # the HTTP backend cannot list; a database is down
            log.debug("dossier texts not read: %s", exc)
        return list(self.texts)


async def _off_loop(work: Callable[[threading.Event], T]) -> T:
    """Run blocking work in a thread; on cancellation, tell it to stop and stop waiting."""
    stop = threading.Event()
    try:
        return await asyncio.to_thread(work, stop)
    except asyncio.CancelledError:
        stop.set()  # the thread finishes its current prompt, keeps what is done, and returns
        raise


def _synthesizer(settings: PromptsConfig) -> Synthesizer:
    sounds = settings.sounds
    return shared_synthesizer(
        sounds.engine,
        voice=sounds.espeak_voice,
        rate_wpm=sounds.espeak_rate_wpm,
        timeout_s=sounds.gtts_timeout_s,
    )


async def render_texts(
    settings: PromptsConfig, texts: Iterable[str], db: PromptDb | None = None
) -> RenderResult:
    """Placeholders for these free texts, in a worker thread."""
    sounds = settings.sounds
    synthesizer = _synthesizer(settings)
    wanted = list(texts)
    async with opened_async(settings, db) as prompt_db:
        return await _off_loop(
            lambda stop: render_dynamic(
                store_for(sounds, prompt_db),
                wanted,
                synthesizer,
                region=settings.region,
                ffmpeg=sounds.ffmpeg,
                stop=stop,
            )
        )


async def render_settings_scripts(
    settings: PromptsConfig, db: PromptDb | None = None
) -> RenderResult:
    """Placeholders for settings_scripts(); re-rendered when the settings change."""
    sounds = settings.sounds
    scripts = settings_scripts(settings)
    synthesizer = _synthesizer(settings)

    async with opened_async(settings, db) as prompt_db:

        def work(stop: threading.Event) -> RenderResult:
            store = store_for(sounds, prompt_db)
            remember_dynamic(store, scripts)  # coverage, export and recordings see them
            return render_placeholders(
                store, scripts, synthesizer, region=settings.region, ffmpeg=sounds.ffmpeg, stop=stop
            )

        return await _off_loop(work)


async def refresh_dynamic(
    settings: PromptsConfig,
    lookup: DossierLookup,
    dossiers: DossierTexts | None = None,
    db: PromptDb | None = None,
) -> RenderResult:
    """Placeholders for the free texts the answers speak, from the lookup and the settings."""
    try:
        procedures = await lookup.procedures()
    except LookupUnavailable as exc:
        log.warning("could not list procedures for their voice prompts (%s); will retry", exc)
        procedures = []
    found = await dossiers.collect(lookup) if dossiers is not None else []
    await render_settings_scripts(settings, db)
    result = await render_texts(settings, dynamic_texts(settings, procedures, found), db)
    if result.rendered or result.failed:
        log.info("dynamic voice prompts: %s", result.summary())
    return result


async def needed_dynamic(settings: PromptsConfig, lookup: DossierLookup) -> dict[str, str]:
    """id -> text of every dynamic prompt the data and the settings call for now: what
    refresh_dynamic renders (for `tracuu prompts status`, which must count them)."""
    try:
        procedures = await lookup.procedures()
    except LookupUnavailable as exc:
        log.warning("could not list procedures for their voice prompts (%s)", exc)
        procedures = []
    found = await DossierTexts().collect(lookup)
    texts = {dynamic_prompt_id(t): t for t in dynamic_texts(settings, procedures, found)}
    return {**settings_scripts(settings), **texts}


async def prepare(
    settings: PromptsConfig,
    lookup: DossierLookup,
    catalog: Iterable[Script] | None = None,
    dossiers: DossierTexts | None = None,
    db: PromptDb | None = None,
) -> Report:
    """Start-up: check, render what is missing, render the dynamic prompts; the final report.

    Everything slow runs in worker threads: the event loop (and every call) goes on.
    """
    if catalog is not None:
        catalog = [Script(p.id, p.text, p.group, p.note) for p in catalog]
    async with opened_async(settings, db) as prompt_db:
        store = store_for(settings.sounds, prompt_db)
        await asyncio.to_thread(lambda: check(settings, catalog, render_follows=True, db=prompt_db))
        result = await _off_loop(lambda stop: _render_missing(settings, store, None, catalog, stop))
        log.info("voice placeholders: %s", result.summary())
        for prompt_id, reason in result.failed.items():
            log.error("voice prompt %s has no placeholder: %s", prompt_id, reason)
        await refresh_dynamic(settings, lookup, dossiers, prompt_db)
        report = await asyncio.to_thread(lambda: inspect(store, scripts_for(store.read(), catalog)))
    if report.ok:
        log.info("voice prompts ready: %s", report.summary())
    else:
        log_report(report)  # still missing after rendering: say so again, loudly
    return report


# Faults of this machine (disk full, sounds directory not writable, ffmpeg missing) and
# of the database (down for a while): logged loudly, never fatal. Calls go on with the
# files already on disk.
_SURVIVABLE: tuple[type[Exception], ...] = (OSError, StoreError, ToolFailed, *DB_ERRORS)


async def run(runtime: Runtime[PromptsConfig, DossierLookup]) -> None:
    """Gateway component: the sounds directory from the database at start-up and on every
    change; prepare; then refresh the dynamic prompts periodically, and render at once
    what a call asked for."""
    settings = runtime.settings
    owned = runtime.db is None
    database = runtime.db or await Database.open(settings.database)
    try:
        await migrate(database)
        prompt_db = PromptDb(database)
        store = store_for(settings.sounds, prompt_db)
        try:
            await asyncio.to_thread(import_json, store)
        except _SURVIVABLE:
            log.exception("the old prompt manifest could not be imported into the database")
        materialiser = Materialiser(store)
        try:  # before the check: it then sees what this machine plays from the database
            await asyncio.to_thread(materialiser.sync)
        except _SURVIVABLE:
            log.exception("voice prompts could not be written from the database")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(follow(database, materialiser))
            tasks.create_task(render_wanted(settings, runtime.bus, db=prompt_db))
            dossiers = DossierTexts()
            try:
                await prepare(settings, runtime.lookup, dossiers=dossiers, db=prompt_db)
            except _SURVIVABLE:
                log.exception("voice prompts could not be prepared; run `tracuu prompts status`")
            while True:
                await asyncio.sleep(settings.sounds.refresh_s)
                try:
                    await refresh_dynamic(settings, runtime.lookup, dossiers, prompt_db)
                except _SURVIVABLE:
                    log.exception("dynamic voice prompts could not be rendered")
    finally:
        if owned:
            await database.close()


async def render_wanted(
    settings: PromptsConfig, bus: EventBus, *, gather_s: float = 0.5, db: PromptDb | None = None
) -> None:
    """Render the free texts calls asked for ("prompt_wanted"), a batch at a time.

    Texts arriving within `gather_s` of each other are rendered together (one ffmpeg
    run); a text is asked for again only after the calls' own quiet time.
    """
    async with bus.subscribe() as events:
        while True:
            wanted: dict[str, None] = {}
            while not wanted:
                event = await events.get()
                _take(event.topic, event.data, wanted)
            with suppress(TimeoutError):
                async with asyncio.timeout(gather_s):
                    while True:
                        event = await events.get()
                        _take(event.topic, event.data, wanted)
            try:
                result = await render_texts(settings, wanted, db)
            except _SURVIVABLE:
                log.exception("voice prompts asked for by calls could not be rendered")
                continue
            log.info("voice prompts asked for by calls: %s", result.summary())


def _take(topic: str, data: Mapping[str, Any], into: dict[str, None]) -> None:
    if topic != PROMPT_WANTED:
        return
    text = clean_text(str(data.get("text", "")))
    if text:
        into.setdefault(text, None)
