"""Wires the instance registry into the console app: the table's migration, this
instance's heartbeat (console/board_beat.py) and the view of the others
(console/board_instances.py) that the board merges into its frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import tzinfo

from aiohttp import web

from console import board_registry
from console.board import Board
from console.board_beat import Heartbeat, down_after_s
from console.board_instances import Instance, SystemView
from kernel.db import Database
from kernel.looplag import LoopLagMonitor

HEARTBEAT = web.AppKey("heartbeat", Heartbeat)


def setup(
    app: web.Application,
    instance: Instance,
    db: Callable[[], Database],
    board: Callable[[], Board],
    *,
    lag: LoopLagMonitor | None,
    zone: tzinfo | None,
) -> SystemView:
    """Call before the board hub's own start (its first poll wants the table)."""
    view = SystemView(
        instance.me,
        lambda: board_registry.read_all(db()),
        ami=instance.ami,
        lag=lag,
        zone=zone,
        poll_s=instance.poll_s,
        down_after=instance.down_after_s or down_after_s(instance.beat_s),
    )
    app[HEARTBEAT] = Heartbeat(
        db,
        instance.me,
        lambda: view.local(board()),
        lambda: board().version,
        beat_s=instance.beat_s,
    )
    app.cleanup_ctx.append(_beating)
    return view


async def _beating(app: web.Application) -> AsyncIterator[None]:
    heartbeat = app[HEARTBEAT]
    await board_registry.migrate(heartbeat.db())
    task = asyncio.create_task(heartbeat.run(), name="instance-heartbeat")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await heartbeat.stop()
