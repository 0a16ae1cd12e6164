"""The operator console as an aiohttp application (app factory, AppKeys).

The platform (console/platform.py: sign-in, roles, CSRF, layout) comes first;
then the pages: the live board over server-sent events, a dossier look-up that
returns the public view only, and health. Every route declares who may open it
(console/access.py). It refuses to show personal data: there is no second
factor on this console.
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

from console import (
    board,
    board_live,
    config_view,
    events_api,
    history,
    kiosk,
    openapi,
    ops,
    studio,
    trycall,
)
from console.access import client_of, current_user, public, requires
from console.audit import audit
from console.board_instances import Instance
from console.layout import NavEntry, add_nav, render
from console.platform import setup_platform
from console.roles import Role
from console.settings import HttpSettings
from console.signin import THROTTLE
from console.throttle import RateLimiter
from kernel.bus import EventBus
from kernel.db import Database, Location
from lookup.codes import InvalidCode, QueryKind, Reason, extract_code
from lookup.model import PublicView
from lookup.port import DossierLookup, LookupUnavailable
from lookup.public import as_json
from prompts.settings import SoundsSettings

log = logging.getLogger(__name__)

LOOKUP = web.AppKey[DossierLookup]("lookup")
BUS = web.AppKey("bus", EventBus)
TODAY = web.AppKey[Any]("today")  # () -> date in the office's time zone
STREAMS = web.AppKey[set[asyncio.Task[Any]]]("streams")  # /events handlers, ended at shutdown
MAX_CODE_LENGTH = 64
# Codes are guessable (date + daily counter): look-ups are capped per client address
# (settings.http.public_lookups_per_minute).
MAX_TRACKED_CLIENTS = 10_000


LIMITER = web.AppKey("limiter", RateLimiter)
HUB = web.AppKey("hub", board.BoardHub)
DB = web.AppKey("db", Database)


def create_app(
    lookup: DossierLookup,
    bus: EventBus,
    today: Any,
    *,
    line_limit: int = 0,
    database: Location | None = None,
    db: Database | None = None,
    zone: tzinfo | None = None,
    try_config: trycall.TryConfig | None = None,
    sounds: SoundsSettings | None = None,
    http: HttpSettings | None = None,
    accounts: Path | str | None = None,
    dossier_writer: events_api.WriterFactory | None = None,
    ops_config: ops.OpsConfig | None = None,
    config: Callable[[], config_view.Effective] | None = None,
    instance: Instance | None = None,
) -> web.Application:
    """`line_limit`: calls served at once (settings.agi.max_calls); `database`: the SQLite
    file whose queues the board samples (None: no queue depths), opened by the app for
    itself (tests, tools without a gateway); `db`: the gateway process's one Database
    (kernel/db.py), used instead and never closed by the app, so the console adds no
    second writer thread or pool on the same database; `accounts`: the SQLite
    file of console users and the audit log (default: the database, else in memory);
    `dossier_writer`: opens the store that POST /api/dossier-events writes to;
    `config`: the running settings and where each came from (the admins' /settings);
    `instance`: who this gateway is, to heartbeat into the shared `database` and show
    every instance on the board (console/board_live.py; None: this one alone)."""
    http = http or HttpSettings()
    app = web.Application(client_max_size=64 * 1024)
    if db is not None:
        app[DB] = db  # the owner's: it opened it and closes it
    elif database is not None:
        app.cleanup_ctx.append(_open_database(database))  # first: the others use it
    has_db = db is not None or database is not None
    setup_platform(app, http, _accounts_where(app, has_db, accounts), zone or UTC)
    sampler = board.queue_sampler(lambda: app[DB]) if has_db else None
    lag = ops_config.loop_lag if ops_config is not None else None
    wider = None
    if has_db and instance is not None:
        wider = board_live.setup(
            app, instance, lambda: app[DB], lambda: app[HUB].board, lag=lag, zone=zone
        )
    app[HUB] = board.BoardHub(bus, board.Board(line_limit), sampler, zone, wider)
    app.cleanup_ctx.append(_run_hub)
    app[LOOKUP] = lookup
    app[BUS] = bus
    app[TODAY] = today
    app[STREAMS] = set()
    app[LIMITER] = RateLimiter(http.public_lookups_per_minute, 60.0, MAX_TRACKED_CLIENTS)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_get("/api/lines", lines)
    app.router.add_get("/api/dossiers/{code}", dossier)
    app.router.add_get("/events", events)
    add_nav(app, NavEntry("/", "Bảng trực", "Live board", Role.OPERATOR, order=10))
    kiosk.add_routes(app)
    add_nav(app, NavEntry("/kiosk", "Tra cứu tại quầy", "Counter kiosk", Role.OPERATOR, order=70))
    if has_db:
        history.add_routes(app, lambda: app[DB], zone or UTC)
        app[history.AUDIT] = _export_audit
        add_nav(app, NavEntry("/stats", "Thống kê", "Statistics", Role.OPERATOR, order=20))
    if try_config is not None:
        trycall.add_routes(app, try_config, lambda: app.get(DB))
        add_nav(app, NavEntry("/try", "Gọi thử, nhắn thử", "Try a call", Role.OPERATOR, order=30))
    if sounds is not None:
        prompts_db = (lambda: app[DB]) if has_db else studio.own_database(app)
        studio.add_routes(app, sounds, zone or UTC, prompts_db)
        app[studio.USER] = _user_name
        app[studio.AUDIT] = _prompt_audit
        add_nav(app, NavEntry("/studio", "Lời thoại", "Prompt studio", Role.EDITOR, order=40))
    config_view.add_routes(app, config)
    # Last: its store opens after the pages' own (the push API is the least urgent).
    events_api.add_routes(app, http, bus, dossier_writer)
    app.router.add_get("/api/openapi.json", openapi.openapi_json)
    ops.add_routes(
        app,
        ops.Sources(
            bus,
            lookup,
            lambda: app.get(DB),
            ops_config or ops.OpsConfig(),
            lambda: {
                "sign_in": app[THROTTLE].held_back,
                "public_lookup": app[LIMITER].refused,
            },
            instances=None if wider is None else app[HUB].current,
        ),
    )
    app.router.add_static("/static/", Path(str(resources.files("console").joinpath("static"))))
    return app


def _user_name(request: web.Request) -> str:
    user = current_user(request)
    return user.name if user is not None else "console"


# The pages' own action names -> the audit log's (console/audit.py).
_ACTIONS = {
    "stats_export": "export.stats_csv",
    "prompt_recorded": "prompt.record",
    "prompt_approve": "prompt.approve",
    "prompt_rollback": "prompt.rollback",
}


async def _export_audit(request: web.Request, action: str, detail: dict[str, str]) -> None:
    await audit(request, _ACTIONS.get(action, action), request.path, detail)


async def _prompt_audit(request: web.Request, action: str, detail: dict[str, str]) -> None:
    target = detail.get("prompt") or request.match_info.get("prompt", "-")
    await audit(request, _ACTIONS.get(action, action), target, detail)


@requires(Role.OPERATOR)
async def index(request: web.Request) -> web.StreamResponse:
    return await render(request, "board.html")


@public
async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


# What the components publish (kernel/bus.py): "ivr_call" per call in our IVR
# (ivr/session.py, masked caller), "lines" for Asterisk's channels as the AMI
# monitor sees them, "sms" for the SMPP link.
LIVE_TOPICS = ("ivr_call", "lines", "sms")


def _snapshot(bus: EventBus, topic: str) -> list[dict[str, Any]]:
    return [dict(event.data) for (t, _), event in bus.latest.items() if t == topic]


@requires(Role.OPERATOR)
async def lines(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    return web.json_response({topic: _snapshot(bus, topic) for topic in LIVE_TOPICS})


@public
async def dossier(request: web.Request) -> web.Response:
    client = client_of(request)
    if not request.app[LIMITER].allow(client, asyncio.get_running_loop().time()):
        refused = _error(429, "Tra cứu quá nhiều lần, vui lòng thử lại sau một phút.")
        # A kiosk or a site's script learns when to ask again (the window is a minute).
        refused.headers["Retry-After"] = "60"
        return refused
    code = request.match_info["code"].strip()
    if not code or len(code) > MAX_CODE_LENGTH:
        return _error(400, "Mã hồ sơ không hợp lệ.")
    try:
        found = await _find(request.app[LOOKUP], code)
    except LookupUnavailable:
        log.warning("console look-up: lookup unavailable")
        return _error(503, "Hệ thống tra cứu đang bận, vui lòng thử lại sau.")
    except ValueError:  # lookup.codes.InvalidCode is a ValueError
        return _error(400, "Mã hồ sơ không hợp lệ.")
    # The kiosk page asks with ?channel=kiosk: only the statistics tell them apart.
    channel = "kiosk" if request.query.get("channel") == "kiosk" else "web"
    await history.count_lookup(request.app, channel)
    if not found:
        return _error(404, "Không tìm thấy hồ sơ.")
    if len(found) > 1:
        codes = ", ".join(view.code for view in found)
        return _error(
            409,
            f"Có {len(found)} hồ sơ trùng ngày và số thứ tự này: {codes}. "
            "Vui lòng nhập mã hồ sơ đầy đủ.",
        )
    return web.json_response(as_json(found[0], request.app[TODAY]()))


async def _find(lookup: DossierLookup, code: str) -> list[PublicView]:
    """The dossiers `code` names: a whole code, or the date and sequence alone (the short
    code a caller keys, "2411290001" or "241129-0001"), searched across every agency in
    the database as the phone line and SMS do, so several may answer."""
    try:
        view = await lookup.by_code(code)
    except InvalidCode as invalid:
        found = extract_code(code)
        if invalid.reason is not Reason.MISSING_PART or found.kind is not QueryKind.DATE_SEQUENCE:
            raise
        return await lookup.by_keypad_digits(found.query, any_agency=True)
    return [] if view is None else [view]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _end_streams(app: web.Application) -> None:
    # An event stream never ends by itself: without this, shutdown waits for it.
    streams: set[asyncio.Task[Any]] = app[STREAMS]
    for task in tuple(streams):
        task.cancel()


@requires(Role.OPERATOR)
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the live board, a whole frame at a time (console/board.py)."""
    task = asyncio.current_task()
    assert task is not None
    request.app[STREAMS].add(task)
    try:
        return await board.stream(request, request.app[HUB])
    finally:
        request.app[STREAMS].discard(task)


def _accounts_where(
    app: web.Application, has_db: bool, accounts: Path | str | None
) -> Path | str | Callable[[], Database]:
    if accounts is not None:
        return accounts
    if has_db:
        return lambda: app[DB]  # the console's Database (the gateway's, or opened first)
    return ":memory:"


def _open_database(database: Location) -> Callable[[web.Application], AsyncIterator[None]]:
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
