"""The SMS component: pump + link + reminder job, until cancelled.

The reminder job runs in a worker process of its own by default
(settings.sms.reminder_mode, sms/reminder_process.py), else as a task on this loop.

In demo mode without an SMPP host, the local test SMSC (peers/smsc.py) is
started on loopback first and the link binds to it, so a newcomer can text the
gateway (`tracuu sms text`) or point any SMPP client at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import SecretStr

from kernel.runtime import Runtime
from lookup.port import DossierLookup
from prompts.catalog import load_catalog
from sms import reminder_job
from sms.pump import SmsPump
from sms.reminder_process import ReminderWorker
from sms.settings import SmppSettings, SmsConfig

log = logging.getLogger(__name__)

DEMO_SYSTEM_ID = "tracuu"
DEMO_PASSWORD = "demo"  # the loopback demo SMSC only; never a real credential


def demo_smpp(smpp: SmppSettings, port: int) -> SmppSettings:
    return smpp.model_copy(
        update={
            "host": "127.0.0.1",
            "port": port,
            "system_id": DEMO_SYSTEM_ID,
            "password": SecretStr(DEMO_PASSWORD),
            "tls": False,
        }
    )


async def run(runtime: Runtime[SmsConfig, DossierLookup]) -> None:
    settings = runtime.settings
    smpp = settings.smpp
    demo_smsc = None
    async with contextlib.AsyncExitStack() as stack:
        if not smpp.configured:
            if not settings.demo:
                log.info("sms: no SMPP host configured (TRACUU_SMPP_HOST); SMS is off")
                await asyncio.Event().wait()  # idle until cancelled
                return
            from peers.smsc import Personality, TestSmsc

            smsc = TestSmsc(Personality(password=DEMO_PASSWORD), port=settings.sms.demo_smsc_port)
            try:
                await stack.enter_async_context(smsc)
            except OSError:
                smsc = await stack.enter_async_context(
                    TestSmsc(Personality(password=DEMO_PASSWORD), port=0)
                )
            log.info(
                "sms: demo SMSC on 127.0.0.1:%d (system_id %s, password %s)",
                smsc.port,
                DEMO_SYSTEM_ID,
                DEMO_PASSWORD,
            )
            runtime.bus.publish("sms", {"demo_smsc_port": smsc.port}, key="demo_smsc")
            smpp = demo_smpp(smpp, smsc.port)
            demo_smsc = smsc
        catalog = load_catalog()
        pump = SmsPump(
            settings,
            runtime.lookup,
            runtime.bus,
            smpp=smpp,
            catalog=catalog,
            db=runtime.db,
            link_process=settings.sms.link_mode == "process",
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(pump.run())
            async with asyncio.timeout(30):
                await pump.ready.wait()  # the SMS tables exist from here on
            assert pump.db is not None  # opened by run() before ready
            # A one-stop system's push (the console's POST /api/dossier-events) runs the
            # job at once, through the bus: the same code as the poll.
            nudge = asyncio.Event()
            tasks.create_task(reminder_job.nudge_on_changes(runtime.bus, nudge))
            if settings.sms.reminder_mode == "process":  # sms/reminder_process.py: why
                worker = ReminderWorker(settings, pump.db.location, pump.wake)
                tasks.create_task(worker.run(nudge))
            else:
                job = reminder_job.ReminderJob(settings, runtime.lookup, pump.db, catalog)
                poll_s = settings.sms.reminder_poll_s
                tasks.create_task(reminder_job.run(job, pump.wake, poll_s, nudge))
            if demo_smsc is not None and settings.sms.demo_traffic_per_min > 0:
                from peers import traffic

                smsc_, to = demo_smsc, smpp.source_addr
                tasks.create_task(
                    traffic.texts(
                        lambda sender, text: smsc_.deliver(sender, text, destination=to),
                        every_s=60 / settings.sms.demo_traffic_per_min,
                    )
                )
