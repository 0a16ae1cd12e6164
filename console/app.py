"""The operator console as an aiohttp application (app factory, AppKeys).

It shows what operators need to watch the switchboard: live line use from the
event bus (server-sent events), a dossier look-up that returns the public view
only, and a health endpoint. It refuses to show personal data: there is no
second factor on this page.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from kernel.bus import EventBus
from lookup.port import DossierLookup, LookupUnavailable
from lookup.public import as_json

log = logging.getLogger(__name__)

LOOKUP = web.AppKey[DossierLookup]("lookup")
BUS = web.AppKey("bus", EventBus)
TODAY = web.AppKey[Any]("today")  # () -> date in the office's time zone
STREAMS = web.AppKey[set[asyncio.Task[Any]]]("streams")  # /events handlers, ended at shutdown
HEARTBEAT_S = 15.0  # keeps proxies from closing an idle event stream
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


def create_app(lookup: DossierLookup, bus: EventBus, today: Any) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
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
STREAMED = frozenset({*LIVE_TOPICS, "ivr_call_ended"})


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
    if view is None:
        return _error(404, "Không tìm thấy hồ sơ.")
    return web.json_response(as_json(view, request.app[TODAY]()))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _default(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


async def _end_streams(app: web.Application) -> None:
    # An event stream never ends by itself: without this, shutdown waits for it.
    streams: set[asyncio.Task[Any]] = app[STREAMS]
    for task in tuple(streams):
        task.cancel()


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a snapshot of current lines, then every bus event."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    bus = request.app[BUS]
    task = asyncio.current_task()
    assert task is not None
    request.app[STREAMS].add(task)
    try:
        async with bus.subscribe() as subscription:
            for (topic, _), event in list(bus.latest.items()):
                if topic in STREAMED:
                    await _send(response, topic, event.data)
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        event = await subscription.get()
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                if event.topic in STREAMED:
                    await _send(response, event.topic, event.data)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the operator closed the tab, or the gateway is stopping
    finally:
        request.app[STREAMS].discard(task)
    return response


async def _send(response: web.StreamResponse, topic: str, data: Any) -> None:
    payload = json.dumps(data, ensure_ascii=False, default=_default)
    await response.write(f"event: {topic}\ndata: {payload}\n\n".encode())
