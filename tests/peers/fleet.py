"""Several real `tracuu serve` processes on one PostgreSQL, bound to one test SMSC.

For the faults that are process faults (a gateway killed with SIGKILL mid-batch, a
restart) and for benchmarks of several instances (bench/province_bench.py):

    async with fleet(tmp_path, url, count=2) as f:       # url: a PostgreSQL database
        await f.ready()                                  # every gateway bound and listening
        f.enqueue(["Tin 1", ...])                        # straight into the shared outbox
        f.gateways[0].kill()                             # SIGKILL, waited for
        await f.smsc.wait_submits(100)
        f.submits("gw1")                                 # what the SMSC got from gateway 1
        f.gateways[0].start()                            # the same instance again

The SMSC (peers/smsc.py on smpp.pdu3) runs in the caller's event loop; each gateway
binds with its own system_id (gw0, gw1, ...) so the SMSC's record says which one sent
what. Each gateway has its own working directory, log file, FastAGI and HTTP port,
and a copy (hard links) of voice prompts rendered once by the computer voice, so
no gateway spends its start rendering them. The database URL may carry
`search_path=<schema>` (the tests' throwaway server hands out one schema a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from peers.smsc import Personality, Submitted, TestSmsc

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "fleet-pw"
NUMBER = "84987000111"  # enqueue()'s recipient; no demo dossier has it
# Rendered once per machine and catalog; each gateway gets hard links to it.
_SOUNDS_CACHE = Path(tempfile.gettempdir()) / "tracuu-fleet-sounds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rendered_sounds() -> Path:
    """The computer-voice prompts, rendered once (espeak-ng, offline, ~5 s) and reused.

    One directory per version of the catalog, rendered under a lock and renamed into
    place when whole: several test runs (and helpers) on one machine share it safely."""
    catalog = ROOT / "prompts" / "catalog"
    stamp = str(max(p.stat().st_mtime_ns for p in catalog.glob("*.toml")))
    ready = _SOUNDS_CACHE / stamp
    if ready.exists():
        return ready / "sounds"
    _SOUNDS_CACHE.mkdir(parents=True, exist_ok=True)
    with (_SOUNDS_CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if ready.exists():
            return ready / "sounds"
        work = Path(tempfile.mkdtemp(dir=_SOUNDS_CACHE, prefix="render-"))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TRACUU_CONFIG": str(work / "absent.toml"),
            "TRACUU_SOUNDS_DIR": str(work / "sounds"),
            "TRACUU_DATABASE": str(work / "none.sqlite3"),
        }
        # It exits non-zero when the dossier texts are not there: expected here.
        subprocess.run(
            [sys.executable, "-m", "gateway", "prompts", "render", "--engine", "espeak"],
            env=env, cwd=work, capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        work.rename(ready)
    return ready / "sounds"


@dataclass
class Gateway:
    """One `tracuu serve` process; start(), kill() and stop() as often as a test likes."""

    name: str  # also its SMPP system_id
    home: Path
    env: dict[str, str]
    agi_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.home / "gateway.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.name} is running")
        self.starts += 1
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            log.write(f"---- start {self.starts} at {time.time():.3f}\n".encode())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve"], env=self.env, cwd=self.home,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

    def kill(self, sig: int = signal.SIGKILL, timeout_s: float = 15.0) -> None:
        """Send `sig` (SIGKILL: no clean-up at all) and wait for the process to end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        self.process.wait(timeout_s)

    async def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (live calls drain, the link unbinds); SIGKILL if it overstays."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Fleet:
    url: str
    smsc: TestSmsc
    gateways: list[Gateway]
    extra: dict[str, Any] = field(default_factory=dict)

    async def ready(self, gateways: Iterable[Gateway] | None = None,
                    timeout_s: float = 60.0) -> None:  # fmt: skip
        """Every gateway (or those given) bound to the SMSC and taking FastAGI calls."""
        chosen = list(self.gateways if gateways is None else gateways)
        async with asyncio.timeout(timeout_s):
            for gw in chosen:
                while not await _listening(gw.agi_port):
                    if not gw.alive:
                        raise RuntimeError(f"{gw.name} exited:\n{gw.log_text()[-3000:]}")
                    await asyncio.sleep(0.1)
            await self.smsc.wait_for(
                lambda: all(gw.name in self.smsc.bound_ids for gw in chosen), timeout_s
            )

    def submits(self, name: str | None = None, to: str | None = NUMBER) -> list[Submitted]:
        """What the SMSC accepted, from one gateway (its name) or all, to one number
        (default: the one enqueue() uses; None: any, the demo's reminders too)."""
        return [
            s for s in self.smsc.record.submits
            if (name is None or s.system_id == name) and (to is None or s.destination == to)
        ]  # fmt: skip

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def enqueue(self, texts: Sequence[str], msisdn: str = NUMBER) -> None:
        """Queue messages in the shared outbox (as a reminder scan would), waking every
        gateway's idle link through LISTEN/NOTIFY."""
        from sms.outbox import Outbox, migrate_file

        await migrate_file(self.url)

        def work() -> None:
            outbox = Outbox.open(self.url)
            try:
                now = time.time()
                for text in texts:
                    outbox.enqueue(msisdn, text, kind="test", accents=False, now=now)
                outbox.commit()
            finally:
                outbox.close()

        await asyncio.to_thread(work)

    async def stop(self) -> None:
        await asyncio.gather(*(gw.stop() for gw in self.gateways))


async def fresh_schema(server: str, name: str) -> str:
    """A new, empty schema of the PostgreSQL server at `server`; its URL."""
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}")
    finally:
        await conn.close()
    return f"{server}&search_path={name}"


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def seed_demo(url: str, today: date | None = None) -> None:
    """The demo's fixed dossiers and procedures in the PostgreSQL dossier tables."""
    from lookup import demo
    from lookup.postgres import PostgresStore

    store = await PostgresStore.open(url)
    try:
        await store.upsert_procedures(demo.procedures())
        await store.upsert_dossiers(demo.fixed_dossiers(today or date.today()))
    finally:
        await store.close()


def gateway_env(url: str, name: str, home: Path, *, smsc_port: int, agi_port: int,
                http_port: int, sounds: Path | None) -> dict[str, str]:  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACUU_CONFIG": str(home / "absent.toml"),
        "TRACUU_DATABASE": url,
        "TRACUU_SMPP_HOST": "127.0.0.1",
        "TRACUU_SMPP_PORT": str(smsc_port),
        "TRACUU_SMPP_SYSTEM_ID": name,
        "TRACUU_SMPP_PASSWORD": PASSWORD,
        "TRACUU_SMPP_RECONNECT_MIN_S": "0.2",
        "TRACUU_SMPP_RECONNECT_MAX_S": "2",
        "TRACUU_AGI_HOST": "127.0.0.1",
        "TRACUU_AGI_PORT": str(agi_port),
        "TRACUU_HTTP_HOST": "127.0.0.1",
        "TRACUU_HTTP_PORT": str(http_port),
        "TRACUU_SOUNDS_ENGINE": "espeak",  # never the network
        "TRACUU_HTTP_METRICS_TOKEN": "fleet-metrics-token-for-tests",
        "TRACUU_SOUNDS_DIR": str(sounds or home / "sounds"),
    }
    for key in [k for k in env if k.startswith("TRACUU_TEST_")]:
        del env[key]  # the test suite's own switches are not the gateway's
    return env


@contextlib.asynccontextmanager
async def fleet(
    tmp_path: Path,
    url: str,
    *,
    count: int = 2,
    personality: Personality | None = None,
    env: Mapping[str, str] | None = None,
    seed: bool = True,
    start: bool = True,
    sounds: bool = True,
) -> AsyncIterator[Fleet]:
    """`count` gateways on the PostgreSQL database `url` and one TestSmsc.

    `env`: extra TRACUU_* settings for every gateway (e.g. TRACUU_SMPP_TPS); `seed`:
    the demo dossiers first; `start`: start every gateway (else call gw.start());
    `sounds`: prompts rendered once and linked in (False: each renders its own)."""
    if seed:
        await seed_demo(url)
    template = await asyncio.to_thread(rendered_sounds) if sounds else None
    async with TestSmsc(personality) as smsc:
        gateways = []
        for n in range(count):
            name = f"gw{n}"
            home = tmp_path / name
            home.mkdir(parents=True, exist_ok=True)
            own_sounds = None
            if template is not None:
                own_sounds = home / "sounds"
                if not own_sounds.exists():
                    shutil.copytree(template, own_sounds, copy_function=os.link)
            gw_env = gateway_env(
                url, name, home, smsc_port=smsc.port, agi_port=free_port(),
                http_port=free_port(), sounds=own_sounds,
            )  # fmt: skip
            gw_env.update(env or {})
            gateways.append(
                Gateway(name, home, gw_env, int(gw_env["TRACUU_AGI_PORT"]),
                        int(gw_env["TRACUU_HTTP_PORT"]))
            )  # fmt: skip
        the_fleet = Fleet(url, smsc, gateways)
        try:
            if start:
                for gw in gateways:
                    gw.start()
            yield the_fleet
        finally:
            await the_fleet.stop()
