"""Faults: the gateway killed with SIGKILL mid-batch, the SMSC dropping mid-batch.

Asserted by counting what the test SMSC received: nothing is lost, and a
message arrives twice only if the outbox recorded it in the duplicate window
(a part sent whose submit_sm_resp never came: `uncertain`).
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from sms.outbox import Outbox, migrate_file
from tests import stores
from tests.peers.smsc import Personality, TestSmsc, seed, sms_world

ROOT = Path(__file__).resolve().parents[1]
NUMBER = "84987000111"

# The gateway's SMS side in a process of its own: settings from the environment.
GATEWAY = """
import asyncio, signal
from gateway.settings import load_settings
from lookup.factory import open_lookup
from sms.pump import SmsPump

async def main():
    settings = load_settings()
    async with open_lookup(settings) as lookup:
        task = asyncio.create_task(SmsPump(settings, lookup).run())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

asyncio.run(main())
"""


def start_gateway(database: Path, port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACUU_DATABASE": stores.url(database),
        "TRACUU_SMPP_HOST": "127.0.0.1",
        "TRACUU_SMPP_PORT": str(port),
        "TRACUU_SMPP_SYSTEM_ID": "tracuu",
        "TRACUU_SMPP_PASSWORD": "pw",
        "TRACUU_SMPP_WINDOW": "10",
        "TRACUU_SMPP_TPS": "2000",
        "TRACUU_SMPP_RECONNECT_MIN_S": "0.05",
        # On PostgreSQL the restarted gateway takes the killed one's parts in flight back
        # once their claim is older than the lease (sms/lease.py): seconds, not a minute.
        "TRACUU_SMPP_RESPONSE_TIMEOUT_S": "2",
        "TRACUU_SMPP_LEASE_S": "3",
    }
    with (tmp_path / "gateway.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-c", GATEWAY], env=env, cwd=tmp_path,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


def delivered(database: Path) -> int:
    [(n,)] = stores.rows(database, "SELECT COUNT(*) FROM sms_message WHERE state = 'delivered'")
    return int(n)


def uncertain_texts(database: Path) -> set[str]:
    rows = stores.rows(
        database,
        "SELECT m.body FROM sms_message m JOIN sms_part p ON p.message_id = m.id"
        " WHERE p.uncertain = 1",
    )
    return {r[0] for r in rows}


async def wait_db(predicate: object, timeout_s: float = 30.0) -> None:
    """Poll the database, bounded (the child process signals nothing else)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def stop(process: subprocess.Popen[bytes], sig: int) -> None:
    process.send_signal(sig)
    await asyncio.to_thread(process.wait, 15)


@pytest.mark.slow
async def test_sigkill_mid_batch_loses_nothing(tmp_path: Path) -> None:
    total = 2000  # the kill must land mid-batch: far more than one window in flight
    database = tmp_path / "crash.sqlite3"
    await migrate_file(database)
    outbox = Outbox.open(database)
    for i in range(total):
        outbox.enqueue(NUMBER, f"tin {i}", kind="test", accents=False, now=float(i))
    outbox.commit()
    outbox.close()
    async with TestSmsc(Personality(submit_delay_s=0.005)) as smsc:
        gateway = start_gateway(database, smsc.port, tmp_path)
        try:
            await smsc.wait_submits(100, timeout_s=30)
            gateway.send_signal(signal.SIGKILL)  # mid-batch: the window is full
            await asyncio.to_thread(gateway.wait, 15)
            killed_at = len(smsc.record.submits)
            gateway = start_gateway(database, smsc.port, tmp_path)
            await wait_db(lambda: delivered(database) == total, timeout_s=90)
        finally:
            if gateway.poll() is None:
                await stop(gateway, signal.SIGTERM)
    texts = [s.text for s in smsc.record.submits]
    counts = collections.Counter(texts)
    duplicates = {t for t, n in counts.items() if n > 1}
    assert set(counts) == {f"tin {i}" for i in range(total)}  # nothing lost
    assert killed_at < total  # the kill really came mid-batch
    assert duplicates <= uncertain_texts(database)  # only within the recorded window
    assert len(duplicates) <= 10  # at most one window of parts was in flight
    assert max(counts.values()) <= 2
    assert smsc.record.connections == 2


async def test_smsc_drop_mid_batch_loses_nothing(tmp_path: Path) -> None:
    total = 100
    personality = Personality(drop_at=40, submit_delay_s=0.002)
    async with sms_world(tmp_path, personality, window=10) as world:
        for i in range(total):
            await world.pump.send(NUMBER, f"tin {i}", kind="test")
        await wait_db(lambda: delivered(world.database) == total)
    texts = [s.text for s in world.smsc.record.submits]
    counts = collections.Counter(texts)
    assert set(counts) == {f"tin {i}" for i in range(total)}
    duplicates = {t for t, n in counts.items() if n > 1}
    # Parts in flight when the SMSC dropped were resent and recorded as uncertain.
    assert duplicates <= uncertain_texts(world.database)
    assert world.smsc.record.connections == 2


@pytest.mark.slow
async def test_sigkill_while_answering_mo(tmp_path: Path) -> None:
    """Questions stored before the kill are answered after the restart; an SMS whose
    deliver_sm_resp never came is redelivered (as a real SMSC does) and answered."""
    database = tmp_path / "mo.sqlite3"
    await seed(database, date.today(), for_processes=True)
    questions = [f"+8490000{i:04d}" for i in range(40)]
    async with TestSmsc(Personality()) as smsc:
        gateway = start_gateway(database, smsc.port, tmp_path)
        unacked: list[str] = []
        try:
            await smsc.wait_bound(15)
            for i, number in enumerate(questions):
                if i == 20:
                    # Killed with a question in flight: sent, never acknowledged.
                    pending = asyncio.create_task(
                        smsc.deliver(number, "HS 000.00.18.H26-241129-0001", timeout_s=5)
                    )
                    gateway.send_signal(signal.SIGKILL)
                    try:
                        status = await pending
                    except (ConnectionError, TimeoutError):
                        status = -1
                    await smsc.wait_disconnected(15)
                elif i > 20:
                    status = -1  # the link is down: the SMSC keeps these for later
                else:
                    status = await smsc.deliver(number, "HS 000.00.18.H26-241129-0001")
                if status != 0:
                    unacked.append(number)
            await asyncio.to_thread(gateway.wait, 15)
            gateway = start_gateway(database, smsc.port, tmp_path)
            for number in unacked:  # the SMSC's redelivery
                assert await smsc.deliver(number, "HS 000.00.18.H26-241129-0001") == 0
            await smsc.wait_for(
                lambda: all(smsc.record.texts_to(n.lstrip("+")) for n in questions), 30
            )
        finally:
            if gateway.poll() is None:
                await stop(gateway, signal.SIGTERM)
    assert unacked  # the kill did interrupt the conversation
    for number in questions:
        assert 1 <= len(smsc.record.texts_to(number.lstrip("+"))) <= 2
