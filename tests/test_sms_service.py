"""sms.service.run: demo mode starts the test SMSC, binds to it, and reports link state."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date
from pathlib import Path

from gateway.runtime import Runtime
from gateway.settings import Settings
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from sms import service
from sms.settings import SmsSettings
from tests.peers.smsc import seed


async def test_demo_mode_runs_the_local_smsc_and_binds(tmp_path: Path) -> None:
    database = tmp_path / "svc.sqlite3"
    await seed(database, date.today())
    settings = Settings(database=str(database), demo=True, sms=SmsSettings(demo_smsc_port=0))
    lookup = await SqliteLookup.open(database)
    bus = EventBus()
    states: list[str] = []
    async with bus.subscribe() as events:
        task = asyncio.create_task(service.run(Runtime(settings, lookup, bus)))
        try:
            async with asyncio.timeout(15):
                async for event in events:
                    if event.topic == "sms" and "link" in event.data:
                        states.append(event.data["link"])
                        if event.data["link"] == "up":
                            break
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(15):
                    await task
            await lookup.close()
    assert states[-1] == "up"
    assert "demo_smsc" in {key for _, key in bus.latest}
