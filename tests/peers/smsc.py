"""The test SMSC (peers/smsc.py, on smpp.pdu3) and a whole SMS world around it.

`sms_world()` starts the SMSC with a personality, a real SQLite dossier file
(lookup.sqlite with the demo's fixed dossiers), and the gateway's SMS pump and
link thread bound to the SMSC on loopback. Tests inject MO messages with
world.smsc.deliver(...) and assert on world.smsc.record and the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from kernel.db import is_postgres
from lookup import demo
from lookup.factory import DossierWriter
from lookup.sqlite import DossierStore, SqliteLookup
from peers.smsc import Personality, Record, Submitted, TestSmsc
from sms.outbox import Outbox
from sms.pump import SmsPump
from sms.settings import SmppSettings, SmsSettings
from tests import stores as test_stores

__all__ = ["Personality", "Record", "Submitted", "TestSmsc", "World", "sms_world"]

CITIZEN = "84912345678"  # registered on the fixed demo dossiers


@dataclass
class World:
    smsc: TestSmsc
    pump: SmsPump
    settings: Settings
    database: Path

    def outbox(self) -> Outbox:
        return Outbox.open(self.database)


def smpp_settings(port: int, **overrides: Any) -> SmppSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "system_id": "tracuu",
        "password": "secret-pw",
        "source_addr": "8088",
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
        "tps": 1000.0,
        "window": 10,
    }
    values.update(overrides)
    return SmppSettings(**values)


async def seed(database: Path, today: date, *, for_processes: bool = False) -> None:
    """The demo's fixed dossiers in the SQLite dossier file at `database` (the lookup a
    test opens itself); for_processes: also seed_processes()."""
    await _seed(await DossierStore.open(database), today)
    if for_processes:
        await seed_processes(database, today)


async def seed_processes(database: Path, today: date) -> None:
    """The same dossiers where a process of its own, given tests.stores.url(database),
    looks them up: on the PostgreSQL pass that schema (the SQLite file otherwise, seeded
    already)."""
    where = test_stores.url(database)
    if is_postgres(where):
        from lookup.postgres import PostgresStore

        await _seed(await PostgresStore.open(where), today)


async def _seed(store: DossierWriter, today: date) -> None:
    try:
        await store.upsert_dossiers(demo.fixed_dossiers(today))
        await store.upsert_procedures(demo.procedures())
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def sms_world(
    tmp_path: Path,
    personality: Personality | None = None,
    *,
    today: date | None = None,
    sms: dict[str, Any] | None = None,
    link_process: bool = False,
    **smpp: Any,
) -> AsyncIterator[World]:
    database = tmp_path / "tracuu.sqlite3"
    await seed(database, today or date.today())
    async with TestSmsc(personality) as smsc:
        settings = Settings(
            database=str(database),
            smpp=smpp_settings(smsc.port, **smpp),
            sms=SmsSettings(**(sms or {})),
        )
        lookup = await SqliteLookup.open(database, collection_place="Bộ phận Một cửa")
        pump = SmsPump(settings, lookup, link_process=link_process)
        task = asyncio.create_task(pump.run())
        try:
            async with asyncio.timeout(10):
                await pump.ready.wait()
            yield World(smsc, pump, settings, database)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(15):
                    await task
            await lookup.close()
