"""History and statistics pages: the rollup job, the JSON for the charts, the CSV export.

`add_routes(app, database, zone)` registers:
- GET /stats               the page (charts drawn by the vendored uPlot, static/vendor)
- GET /api/stats?from=&to= the summary of a date range (office days, both included)
- GET /api/stats.csv?...   the same as CSV, one row per day (admin; audit-logged)

A rollup runs when the console starts and then every ROLLUP_S, so a page load only
reads the rollup table (console/stats.py): a year answers in about 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, timedelta, tzinfo

from aiohttp import web

from console.access import requires
from console.layout import render
from console.roles import Role
from console.stats import COMPONENT, STEPS, StatsStore, to_csv
from kernel.db import Database

log = logging.getLogger(__name__)

STATS = web.AppKey("stats", StatsStore)
ZONE = web.AppKey("stats_zone", tzinfo)
# Who exported (the audit log is the platform's: console accounts); a no-op until wired.
AUDIT = web.AppKey[Callable[[web.Request, str, dict[str, str]], Awaitable[None]]]("stats_audit")
ROLLUP_S = 60.0
MAX_RANGE_DAYS = 3 * 366
DEFAULT_DAYS = 30


def add_routes(app: web.Application, db: Callable[[], Database], zone: tzinfo) -> None:
    """`db()`: the console's database, open once the app has started."""
    app[ZONE] = zone
    app.cleanup_ctx.append(_stats_store(db))
    app.router.add_get("/stats", page)
    app.router.add_get("/api/stats", summary)
    app.router.add_get("/api/stats.csv", export_csv)


def _stats_store(
    db: Callable[[], Database],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        await db().migrate(COMPONENT, STEPS)
        store = StatsStore(db())
        app[STATS] = store
        await _rollup(store, app[ZONE])  # the first page shows up-to-date figures
        task = asyncio.create_task(_rollups(store, app[ZONE]), name="stats-rollup")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.close()

    return context


async def _rollups(store: StatsStore, zone: tzinfo) -> None:
    while True:
        await asyncio.sleep(ROLLUP_S)
        await _rollup(store, zone)


async def _rollup(store: StatsStore, zone: tzinfo) -> None:
    try:
        await store.rollup(datetime.now(zone))
    except Exception:  # a busy database now is a rollup a minute later
        log.exception("statistics: rollup failed")


async def count_lookup(app: web.Application, channel: str) -> None:
    """Count a web or kiosk look-up (voice and SMS are counted from their own tables)."""
    store = app.get(STATS)
    if store is None:
        return
    try:
        await store.count(f"lookup_{channel}", datetime.now(app[ZONE]))
    except Exception:  # statistics never fail a look-up
        log.exception("statistics: %s look-up not counted", channel)


@requires(Role.OPERATOR)
async def page(request: web.Request) -> web.Response:
    return await render(request, "stats.html")


def date_range(request: web.Request) -> tuple[date, date]:
    today = datetime.now(request.app[ZONE]).date()
    try:
        end = date.fromisoformat(request.query.get("to") or today.isoformat())
        start = date.fromisoformat(
            request.query.get("from") or (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        )
    except ValueError:
        raise _bad("Ngày không hợp lệ (dạng 2026-12-03).") from None
    if start > end:
        raise _bad("Ngày bắt đầu phải trước ngày kết thúc.")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise _bad("Khoảng thời gian tối đa là 3 năm.")
    return start, end


def _bad(message: str) -> web.HTTPBadRequest:
    body = json.dumps({"error": message}, ensure_ascii=False)
    return web.HTTPBadRequest(text=body, content_type="application/json")


@requires(Role.OPERATOR)
async def summary(request: web.Request) -> web.Response:
    start, end = date_range(request)
    result = await request.app[STATS].summary(start, end, request.app[ZONE])
    return web.json_response(result.as_json())


@requires(Role.ADMIN)
async def export_csv(request: web.Request) -> web.Response:
    start, end = date_range(request)
    result = await request.app[STATS].summary(start, end, request.app[ZONE])
    audit = request.app.get(AUDIT)
    if audit is not None:
        await audit(request, "stats_export", {"from": start.isoformat(), "to": end.isoformat()})
    log.info("statistics exported as CSV: %s to %s", start, end)
    name = f"thong-ke-{start.isoformat()}-{end.isoformat()}.csv"
    # A byte-order mark so Excel opens the Vietnamese headers as UTF-8.
    return web.Response(
        body=("\ufeff" + to_csv(result)).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
