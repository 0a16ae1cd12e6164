"""The operator console as an aiohttp application (app factory, AppKeys).

It shows what operators need to watch the switchboard: live line use from the
event bus (server-sent events), a dossier look-up that returns the public view
only, and a health endpoint. It refuses to show personal data: there is no
second factor on this page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from console import board, history, studio, trycall
from kernel.bus import EventBus
from kernel.db import Database
from lookup.port import DossierLookup, LookupUnavailable
from lookup.public import as_json
from prompts.settings import SoundsSettings

log = logging.getLogger(__name__)

LOOKUP = web.AppKey[DossierLookup]("lookup")
BUS = web.AppKey("bus", EventBus)
TODAY = web.AppKey[Any]("today")  # () -> date in the office's time zone
STREAMS = web.AppKey[set[asyncio.Task[Any]]]("streams")  # /events handlers, ended at shutdown
MAX_CODE_LENGTH = 64
# Codes are guessable (date + daily counter): cap look-ups per client address.
LOOKUPS_PER_MINUTE = 30
MAX_TRACKED_CLIENTS = 10_000


class RateLimiter:
    """At most `limit` events per client in any `window_s`; bounded memory.

    Pure: the caller passes `now` (monotonic seconds).
    """

    def __init__(self, limit: int, window_s: float, max_clients: int) -> None:
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._seen: dict[str, list[float]] = {}

    def allow(self, client: str, now: float) -> bool:
        # pop + re-insert keeps the dict ordered by last use: the first key is the stalest.
        recent = [t for t in self._seen.pop(client, ()) if now - t < self.window_s]
        allowed = len(recent) < self.limit
        if allowed:
            recent.append(now)
        self._seen[client] = recent
        if len(self._seen) > self.max_clients:
            del self._seen[next(iter(self._seen))]
        return allowed


LIMITER = web.AppKey("limiter", RateLimiter)
HUB = web.AppKey("hub", board.BoardHub)
DB = web.AppKey("db", Database)


def create_app(
    lookup: DossierLookup,
    bus: EventBus,
    today: Any,
    *,
    line_limit: int = 0,
    database: Path | None = None,
    zone: tzinfo | None = None,
    try_config: trycall.TryConfig | None = None,
    sounds: SoundsSettings | None = None,
) -> web.Application:
    """`line_limit`: calls served at once (settings.agi.max_calls); `database`: the SQLite
    file whose queues the board samples (None: no queue depths)."""
    app = web.Application(client_max_size=64 * 1024)
    if database is not None:
        app.cleanup_ctx.append(_open_database(database))  # first: the others use it
    sampler = None if database is None else board.queue_sampler(lambda: app[DB])
    app[HUB] = board.BoardHub(bus, board.Board(line_limit), sampler, zone)
    app.cleanup_ctx.append(_run_hub)
    app[LOOKUP] = lookup
    app[BUS] = bus
    app[TODAY] = today
    app[STREAMS] = set()
    app[LIMITER] = RateLimiter(LOOKUPS_PER_MINUTE, 60.0, MAX_TRACKED_CLIENTS)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_get("/api/lines", lines)
    app.router.add_get("/api/dossiers/{code}", dossier)
    app.router.add_get("/events", events)
    if database is not None:
        history.add_routes(app, lambda: app[DB], zone or UTC)
    if try_config is not None:
        trycall.add_routes(app, try_config)
    if sounds is not None:
        studio.add_routes(app, sounds, zone or UTC)
    app.router.add_static("/static/", Path(str(resources.files("console").joinpath("static"))))
    return app


async def index(request: web.Request) -> web.Response:
    page = resources.files("console").joinpath("static/index.html").read_text("utf-8")
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


# What the components publish (kernel/bus.py): "ivr_call" per call in our IVR
# (ivr/session.py, masked caller), "lines" for Asterisk's channels as the AMI
# monitor sees them, "sms" for the SMPP link.
LIVE_TOPICS = ("ivr_call", "lines", "sms")


def _snapshot(bus: EventBus, topic: str) -> list[dict[str, Any]]:
    return [dict(event.data) for (t, _), event in bus.latest.items() if t == topic]


async def lines(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    return web.json_response({topic: _snapshot(bus, topic) for topic in LIVE_TOPICS})


async def dossier(request: web.Request) -> web.Response:
    client = request.remote or "-"
    if not request.app[LIMITER].allow(client, asyncio.get_running_loop().time()):
        return _error(429, "Tra cứu quá nhiều lần, vui lòng thử lại sau một phút.")
    code = request.match_info["code"].strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        return _error(400, "Mã hồ sơ không hợp lệ.")
    try:
        view = await request.app[LOOKUP].by_code(code)
    except LookupUnavailable:
        log.warning("console look-up: lookup unavailable")
        return _error(503, "Hệ thống tra cứu đang bận, vui lòng thử lại sau.")
    except ValueError:  # lookup.codes.InvalidCode is a ValueError
        return _error(400, "Mã hồ sơ không hợp lệ.")
    await history.count_lookup(request.app, "web")
    if view is None:
        return _error(404, "Không tìm thấy hồ sơ.")
    return web.json_response(as_json(view, request.app[TODAY]()))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _end_streams(app: web.Application) -> None:
    # An event stream never ends by itself: without this, shutdown waits for it.
    streams: set[asyncio.Task[Any]] = app[STREAMS]
    for task in tuple(streams):
        task.cancel()


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the live board, a whole frame at a time (console/board.py)."""
    task = asyncio.current_task()
    assert task is not None
    request.app[STREAMS].add(task)
    try:
        return await board.stream(request, request.app[HUB])
    finally:
        request.app[STREAMS].discard(task)


def _open_database(database: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        app[DB] = await Database.open(database)
        try:
            yield
        finally:
            await app[DB].close()

    return context


async def _run_hub(app: web.Application) -> AsyncIterator[None]:
    hub = app[HUB]
    task = asyncio.create_task(hub.run(), name="board")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
