"""Prompt studio: every prompt with its script and what callers hear now; record in the
browser or upload a file, listen to the draft at 8 kHz, approve, roll back; print the
scripts for a recording session.

A recording goes through exactly what `tracuu prompts import` does
(prompts/recordings.py: checks, trimming, levelling, the five Asterisk formats),
and approving or rolling back is `tracuu prompts approve/rollback`. That work is
ffmpeg, file I/O and database jobs (kernel.db's run_blocking), so it runs in a
worker thread, never on the event loop every call shares. The prompts live in the
console's Database (the one every gateway shares), so any instance's studio shows
and changes the same versions. Who recorded and approved what and when is in the
prompt's history (in Vietnamese, prompts/history.py) and, through the platform's
audit hook, in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from console.access import requires
from console.layout import render, static_page
from console.roles import Role
from kernel.db import DB_ERRORS, Database
from messages.formats import iso_moment, seconds
from messages.prompt_history import refusal_in_words as version_refusal
from messages.recording_refusals import in_words as refusal_in_words
from prompts import history, rows
from prompts.audio import Rejected, ToolFailed
from prompts.database import PromptDb, migrate
from prompts.inventory import inspect, scripts_for, store_for
from prompts.recordings import approve_version, import_recording, rollback_version
from prompts.settings import SoundsSettings
from prompts.store import PROMPT_ID, Store, StoreError
from prompts.versions import Refused, state

log = logging.getLogger(__name__)
_REFUSED: tuple[type[Exception], ...] = (StoreError, ValueError, *DB_ERRORS)

SOUNDS = web.AppKey("studio_sounds", SoundsSettings)
ZONE = web.AppKey[Any]("studio_zone")
DB = web.AppKey[Callable[[], Database]]("studio_db")
# The platform (console accounts) sets these: who is signed in, and its audit log.
USER = web.AppKey[Callable[[web.Request], str]]("studio_user")
AUDIT = web.AppKey[Callable[[web.Request, str, dict[str, str]], Awaitable[None]]]("studio_audit")


def add_routes(
    app: web.Application, sounds: SoundsSettings, zone: Any, db: Callable[[], Database]
) -> None:
    """`db`: the console's Database (opened by the app before the studio's first request)."""
    app[SOUNDS] = sounds
    app[ZONE] = zone
    app[DB] = db
    app.on_startup.append(_migrate)
    app.router.add_get("/studio", page)
    app.router.add_get("/studio/print", print_page)
    app.router.add_get("/api/studio/prompts", prompts)
    app.router.add_get("/api/studio/prompts/{prompt}", versions)
    app.router.add_get("/api/studio/prompts/{prompt}/{number:\\d+}.wav", version_audio)
    app.router.add_post("/api/studio/prompts/{prompt}/recordings", upload)
    app.router.add_post("/api/studio/prompts/{prompt}/approve", approve)
    app.router.add_post("/api/studio/prompts/{prompt}/rollback", rollback)


_OWN_DB = web.AppKey("studio_own_db", Database)


def own_database(app: web.Application) -> Callable[[], Database]:
    """A console without a database (a test, a kiosk-only console): prompts in memory."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        app[_OWN_DB] = await Database.open(":memory:")
        try:
            yield
        finally:
            await app[_OWN_DB].close()

    app.cleanup_ctx.append(context)
    return lambda: app[_OWN_DB]


async def _migrate(app: web.Application) -> None:
    await migrate(app[DB]())


def _store(request: web.Request) -> Store:
    return store_for(request.app[SOUNDS], PromptDb(request.app[DB]()))


def _who(request: web.Request) -> str:
    user = request.app.get(USER)
    return user(request) if user is not None else "console"


async def _audit(request: web.Request, action: str, detail: dict[str, str]) -> None:
    hook = request.app.get(AUDIT)
    if hook is not None:
        await hook(request, action, detail)


def _prompt_id(request: web.Request) -> str:
    prompt = request.match_info["prompt"]
    if not PROMPT_ID.fullmatch(prompt):
        raise web.HTTPNotFound
    return prompt


async def _static(request: web.Request, name: str) -> web.Response:
    return await static_page(request, name)


@requires(Role.EDITOR)
async def page(request: web.Request) -> web.Response:
    return await render(request, "studio.html")


@requires(Role.EDITOR)
async def print_page(request: web.Request) -> web.Response:
    return await _static(request, "studio-print.html")


def _rows(store: Store) -> list[dict[str, Any]]:
    report = inspect(store, scripts_for(store.read()))
    return [row.to_dict() for row in report.rows]


@requires(Role.EDITOR)
async def prompts(request: web.Request) -> web.Response:
    """Every prompt: script, group, what callers hear (recorded / tts / missing), stale."""
    rows = await asyncio.to_thread(_rows, _store(request))
    return web.json_response({"prompts": rows})


@requires(Role.EDITOR)
async def versions(request: web.Request) -> web.Response:
    prompt = _prompt_id(request)
    zone = request.app[ZONE]
    record = await asyncio.to_thread(_store(request).record, prompt)
    return web.json_response(
        {
            "id": prompt,
            "live": record.live,
            "versions": [
                {
                    "number": v.number,
                    "state": state(record, v.number),
                    "source": v.source,
                    "created_at": iso_moment(v.created_at, zone),
                    "by": v.by if v.source == "recording" else f"{v.engine} {v.voice}".strip(),
                    "file_name": v.file_name,
                    "duration_s": v.duration_s,
                    "duration": seconds(v.duration_s),
                    "text": v.text,
                    "approved_at": iso_moment(v.approved_at, zone) if v.approved_at else "",
                    "approved_by": v.approved_by,
                    "audio": f"/api/studio/prompts/{prompt}/{v.number}.wav",
                }
                for v in reversed(record.versions)
            ],
            "history": [history.line(event, zone) for event in reversed(record.history)],
        }
    )


@requires(Role.EDITOR)
async def version_audio(request: web.Request) -> web.StreamResponse:
    """A version's 8 kHz WAV, from the database: the draft exactly as callers would hear
    it, whichever gateway it was recorded on."""
    prompt = _prompt_id(request)
    number = int(request.match_info["number"])
    database = request.app[DB]()
    blobs = await database.read(lambda conn: rows.audio(conn, prompt, number, ("wav",)))
    if "wav" not in blobs:
        raise web.HTTPNotFound
    return web.Response(
        body=blobs["wav"], content_type="audio/wav", headers={"Cache-Control": "no-cache"}
    )


@requires(Role.EDITOR)
async def upload(request: web.Request) -> web.Response:
    """A recording from the browser (MediaRecorder) or a file: multipart field 'audio'."""
    prompt = _prompt_id(request)
    sounds = request.app[SOUNDS]
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and getattr(part, "name", None) != "audio":
        part = await reader.next()
    if part is None or not hasattr(part, "read_chunk"):
        return _error(400, "Thiếu tệp ghi âm.")
    file_name = getattr(part, "filename", None) or "ghi-am.webm"
    with tempfile.TemporaryDirectory(prefix="tracuu-upload-") as folder:
        path = Path(folder) / "upload"
        size = 0
        with path.open("wb") as out:  # small writes of a bounded upload; the checks are off-loop
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > sounds.max_upload_bytes:
                    return _error(413, "Tệp quá lớn.")
                out.write(chunk)
        by = _who(request)
        try:
            done = await asyncio.to_thread(
                _import, sounds, _store(request), prompt, path, by, file_name
            )
        except Rejected as exc:
            return _error(400, f"Bản ghi không dùng được: {refusal_in_words(str(exc))}")
        except ToolFailed:
            log.exception("studio: ffmpeg failed")
            return _error(500, "Không xử lý được tệp âm thanh (ffmpeg).")
    await _audit(request, "prompt_recorded", {"prompt": prompt, "version": str(done.number)})
    return web.json_response(
        {
            "id": prompt,
            "version": done.number,
            "duration_s": done.duration_s,
            "duration": seconds(done.duration_s),
            "rms_dbfs": done.rms_dbfs,
            "gain_db": done.gain_db,
            "audio": f"/api/studio/prompts/{prompt}/{done.number}.wav",
        }
    )


def _import(  # noqa: PLR0917 - handed to asyncio.to_thread, which passes positionals
    sounds: SoundsSettings, store: Store, prompt: str, path: Path, by: str, file_name: str
) -> Any:
    scripts = {s.id: s.text for s in scripts_for(store.read())}
    imported = import_recording(store, sounds, scripts, prompt, path, by=by, file_name=file_name)
    return imported.version


@requires(Role.EDITOR)
async def approve(request: web.Request) -> web.Response:
    return await _switch(request, "approve")


@requires(Role.EDITOR)
async def rollback(request: web.Request) -> web.Response:
    return await _switch(request, "rollback")


async def _switch(request: web.Request, rule: str) -> web.Response:
    prompt = _prompt_id(request)
    try:
        number = int((await request.json())["version"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "Thiếu số phiên bản.")
    change = approve_version if rule == "approve" else rollback_version
    by = _who(request)
    try:
        outcome = await asyncio.to_thread(change, _store(request), prompt, number, by=by)
    except _REFUSED as exc:
        log.warning("studio %s %s v%d: %s", rule, prompt, number, exc)
        return _error(409, "Không đổi được phiên bản.")
    if isinstance(outcome, Refused):
        return _error(409, f"Không đổi được phiên bản: {version_refusal(outcome.reason)}")
    await _audit(request, f"prompt_{rule}", {"prompt": prompt, "version": str(number)})
    log.info("studio: %s v%d live (%s by %s)", prompt, number, rule, by)
    return web.json_response({"id": prompt, "live": outcome.live})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
