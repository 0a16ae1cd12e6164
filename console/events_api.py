"""POST /api/dossier-events: a one-stop system pushes dossier changes as they happen.

Authenticated with a bearer token (settings.http.api_token, from the environment;
no cookie, so no CSRF). The body is {"events": [record, ...]}, each record the
dossier as the one-stop system now has it, in the field names of `tracuu import`
(code, status, due_on, rescheduled_on, ready_on, received_on, procedure_name,
phones, ...). Each record goes through the import's own checks
(lookup.importer.to_dossier) and is upserted by code; a refused record is named
with its index and reason, the others are stored. Then the "dossiers_changed"
bus event wakes the SMS side's reminder job (sms/reminder_job.py), which queues
the reminders the change calls for at once instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from aiohttp import web

from console.access import ACCOUNTS, bearer_matches, client_of, token_only
from console.settings import HttpSettings
from kernel.bus import EventBus
from lookup.importer import to_dossier
from lookup.model import Dossier
from messages import formats

log = logging.getLogger(__name__)

MAX_EVENTS = 200
CHANGED_TOPIC = "dossiers_changed"  # sms/service.py runs the reminder job on it


class DossierWriter(Protocol):
    async def upsert_dossiers(self, dossiers: Iterable[Dossier], batch_size: int = ...) -> int: ...


WriterFactory = Callable[[], AbstractAsyncContextManager[DossierWriter]]
EVENTS_HTTP = web.AppKey("events_http", HttpSettings)
EVENTS_BUS = web.AppKey("events_bus", EventBus)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@token_only
async def dossier_events(request: web.Request) -> web.Response:
    settings = request.app[EVENTS_HTTP]
    if settings.api_token is None or WRITER not in request.app:
        return _error(503, "Chưa cấu hình API nhận sự kiện (TRACUU_HTTP_API_TOKEN).")
    if not bearer_matches(request, settings.api_token):
        log.warning("dossier events: refused a request from %s (token)", client_of(request))
        return web.json_response(
            {"error": "Sai hoặc thiếu mã xác thực."},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        body: Any = await request.json()
    except ValueError:
        return _error(400, "Nội dung không phải JSON.")
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        return _error(400, 'Cần {"events": [...]} với ít nhất một hồ sơ.')
    if len(events) > MAX_EVENTS:
        return _error(413, f"Tối đa {MAX_EVENTS} hồ sơ mỗi lần gửi.")

    accepted: list[Dossier] = []
    rejected: list[dict[str, Any]] = []
    for index, record in enumerate(events):
        if not isinstance(record, dict):
            rejected.append({"index": index, "reason": "không phải một hồ sơ (đối tượng JSON)"})
            continue
        try:
            dossier, _warnings = to_dossier(record)
        except ValueError as exc:
            rejected.append({"index": index, "reason": str(exc)})
            continue
        accepted.append(dossier)
    stored = await (await request.app[WRITER].get()).upsert_dossiers(accepted) if accepted else 0
    if stored:
        request.app[EVENTS_BUS].publish(CHANGED_TOPIC, {"count": stored, "source": "api"})
        await request.app[ACCOUNTS].audit(
            "api",
            "dossiers.push",
            f"{formats.number(stored)} hồ sơ",
            {"codes": ", ".join(d.code for d in accepted[:20])},
            client_of(request),
        )
    log.info("dossier events: %d stored, %d refused", stored, len(rejected))
    return web.json_response(
        {"accepted": len(accepted), "rejected": rejected}, status=202 if not rejected else 207
    )


def add_routes(
    app: web.Application, settings: HttpSettings, bus: EventBus, writer: WriterFactory | None
) -> None:
    app[EVENTS_HTTP] = settings
    app[EVENTS_BUS] = bus
    if writer is not None:
        app.cleanup_ctx.append(_writer(writer))
    app.router.add_post("/api/dossier-events", dossier_events)


class LazyWriter:
    """The store, opened at the first push (not at start-up: a gateway stopped while
    starting leaves nothing half-open) and closed with the app."""

    def __init__(self, factory: WriterFactory) -> None:
        self._factory = factory
        self._stack = contextlib.AsyncExitStack()
        self._store: DossierWriter | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> DossierWriter:
        async with self._lock:
            if self._store is None:
                self._store = await self._stack.enter_async_context(self._factory())
            return self._store

    async def close(self) -> None:
        async with self._lock:
            self._store = None
            await self._stack.aclose()


WRITER = web.AppKey("dossier_writer", LazyWriter)


def _writer(factory: WriterFactory) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[WRITER] = LazyWriter(factory)
        try:
            yield
        finally:
            await app[WRITER].close()

    return context
