"""The voice component as the gateway runs it: up, a call, cancelled, nothing left behind."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from gateway.runtime import Runtime
from gateway.settings import Settings
from ivr.service import run
from kernel.bus import EventBus
from lookup.sqlite import DossierStore, SqliteLookup
from peers.asterisk import SimulatedAsterisk
from tests.test_ivr_calls import DOSSIERS, PROCEDURES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_service_serves_calls_until_cancelled_and_leaves_no_task(tmp_path: Path) -> None:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(DOSSIERS)
    await store.upsert_procedures(PROCEDURES)
    await store.close()
    port = free_port()
    settings = Settings(database=str(path), agi={"port": port})
    lookup = await SqliteLookup.open(path, agencies={a.id: a.name for a in settings.agencies})
    started = asyncio.Event()
    before = asyncio.all_tasks()
    try:
        async with asyncio.timeout(10):
            service = asyncio.create_task(
                run(Runtime(settings, lookup, EventBus()), started=started)
            )
            await started.wait()
            record = await SimulatedAsterisk("1 2411290002# _ _ _").call("127.0.0.1", port)
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)
    finally:
        await lookup.close()
    assert record.heard[0].prompt == "tracuu/ivr_welcome"
    assert record.heard[-1].prompt == "tracuu/ivr_goodbye"
    assert record.variables == {"TRACUU_NEXT": "goodbye"}
    assert service.cancelled()
    assert asyncio.all_tasks() == before
    with socket.socket() as s:
        # The listener is closed: on Linux a bind to a port still listened on fails,
        # even with SO_REUSEADDR.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
