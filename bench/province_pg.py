"""The province bench's PostgreSQL: a throwaway server on loopback over a cached base.

The base (var/bench/province-pg-<count>/, a stopped server's data directory) is
built once: initdb, the lookup schema by the product's own migration, the
dossiers by COPY (lookup.demo's generator, lookup.rows' row mapping, so the rows
are what an import writes), the phone index from them, then `tracuu reminders
run` once so the reminder cursor is past the base (its first scan would read all
1,000,000 dossiers inside the measured phase). Each run copies that directory and
starts a server on it, listening on 127.0.0.1 only (TCP, as a gateway on another
host reaches it) and on a Unix socket for the bench's own tools; the copy is
deleted after, so every run starts from the same base.

tests/peers/postgres.py has the binaries and the run-as-postgres rule; its
server() is per test session (fsync off, no TCP), this one is a durable server
(fsync on, as a province runs it) whose data outlives the process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.peers.postgres import BIN, _as_postgres, available  # noqa: E402

BENCH = ROOT / "var" / "bench"
BASE_TODAY = date(2020, 6, 1)  # the base's dates: old news for every reminder rule
AGENCIES = [f"000.00.{n:02d}.H26" for n in range(10, 20)]
KEYPAD_AGENCY = "000.00.18.H26"  # the configured agency the callers key codes of
USER = "tracuu"
# A small server for a 2-CPU machine, durable as production is (fsync, full commits).
SERVER_OPTIONS = (
    "-c shared_buffers=256MB -c max_connections=200 -c max_wal_size=2GB"
    " -c checkpoint_timeout=15min -c log_min_duration_statement=-1"
)


def base_dir(count: int) -> Path:
    """The cached data directory of `count` dossiers; built the first time (minutes)."""
    home = BENCH / f"province-pg-{count}"
    if not (home / "ready").exists():
        why = available()
        if why:
            raise SystemExit(f"province bench: {why}")
        started = time.perf_counter()
        _build(home, count)
        print(
            f"built the PostgreSQL base of {count} dossiers in "
            f"{time.perf_counter() - started:.0f} s ({home})",
            flush=True,
        )
    return home


@contextmanager
def server(count: int, port: int) -> Iterator[str]:
    """A server on a copy of the base; yields its URL (TCP on 127.0.0.1:port)."""
    base = base_dir(count)
    home = BENCH / "province-run"
    _stop(home / "data")  # a run that was killed may have left its server up
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    started = time.perf_counter()
    subprocess.run(["cp", "-a", "--reflink=auto", str(base / "data"), str(home)], check=True)
    _chown(home)
    _start(home, port)
    print(
        f"PostgreSQL on 127.0.0.1:{port} ({time.perf_counter() - started:.1f} s to copy and start)"
    )
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        _stop(home / "data")
        shutil.rmtree(home, ignore_errors=True)


# ---- the base, built once


def _build(home: Path, count: int) -> None:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    _chown(home)
    subprocess.run(
        _as_postgres(str(BIN / "initdb"), "-D", str(home / "data"), "-A", "trust", "-U", USER,
                     "-E", "UTF8", "--no-sync"),
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    port = _free_port()
    _start(
        home, port, extra=" -c fsync=off -c full_page_writes=off"
    )  # a bulk load: no crash to survive
    try:
        url = f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        asyncio.run(_load(url, count))
        _catch_up_reminders(url)
        # The load leaves about 1 GB of WAL, copied by every phase of every run: a small
        # max_wal_size and two checkpoints drop it (the runs' command line sets their own).
        for sql in (
            "VACUUM ANALYZE",
            "ALTER SYSTEM SET max_wal_size = '96MB'",
            "SELECT pg_reload_conf()",
            "CHECKPOINT",
            "CHECKPOINT",
        ):
            subprocess.run(
                _as_postgres(str(BIN / "psql"), "-h", str(home), "-p", str(port), "-U", USER,
                             "-d", "postgres", "-qc", sql),
                check=True, capture_output=True, timeout=1800,
            )  # fmt: skip
    finally:
        _stop(home / "data", mode="fast")  # a clean shutdown: the copy starts without recovery
    (home / "ready").touch()


async def _load(url: str, count: int) -> None:
    import asyncpg

    from lookup import demo
    from lookup.postgres import PostgresStore
    from lookup.rows import COLUMNS, dossier_row

    await (await PostgresStore.open(url)).close()  # the lookup schema, by its own migration
    conn = await asyncpg.connect(url)
    try:
        now_iso = datetime.now(UTC).isoformat()
        started = time.perf_counter()
        rows: list[tuple[object, ...]] = []
        dossiers = demo.generate(count, today=BASE_TODAY, agencies=AGENCIES, seed=1)
        for seq, dossier in enumerate(dossiers, start=1):
            rows.append((*dossier_row(dossier, now_iso), seq))
            if len(rows) == 50_000:
                await conn.copy_records_to_table("dossier", records=rows, columns=COLUMNS)
                rows.clear()
        if rows:
            await conn.copy_records_to_table("dossier", records=rows, columns=COLUMNS)
        # The phone index as lookup/postgres.py's writer keeps it: one row a distinct phone.
        await conn.execute(
            "INSERT INTO dossier_phone (phone, dossier_id)"
            " SELECT DISTINCT p, id FROM dossier, unnest(string_to_array(applicant_phones, ',')) p"
            " WHERE p <> ''"
        )
        await conn.copy_records_to_table(
            "procedure",
            records=[
                (p.code, p.name, "[]", p.fee, p.processing_time, p.common)
                for p in demo.procedures()
            ],
            columns=("code", "name", "documents", "fee", "processing_time", "common"),
        )
        print(f"  {count} dossiers copied in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()


def _catch_up_reminders(url: str) -> None:
    """One reminder scan over the base, so the gateways' scans start past it."""
    started = time.perf_counter()
    env = {**os.environ, "TRACUU_CONFIG": "/nonexistent.toml", "TRACUU_DATABASE": url}
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "reminders", "run", "--once"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"tracuu reminders run failed: {done.stderr[-2000:]}")
    print(f"  reminder cursor past the base in {time.perf_counter() - started:.0f} s", flush=True)


# ---- the server


def _start(home: Path, port: int, extra: str = "") -> None:
    options = f"-k {home} -c listen_addresses=127.0.0.1 -p {port} {SERVER_OPTIONS}{extra}"
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(home / "data"), "-o", options, "-l",
                     str(home / "log"), "-w", "-t", "300", "start"),
        check=True, capture_output=True, timeout=330,
    )  # fmt: skip


def _stop(data: Path, mode: str = "immediate") -> None:
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"),
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip


def _chown(path: Path) -> None:
    # PostgreSQL runs as the postgres user when we are root (tests/peers/postgres.py).
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres", str(path)], check=True)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postmaster_pid(home: Path | None = None) -> int:
    """The running server's postmaster (its children's CPU is counted under it)."""
    pid_file = (home or BENCH / "province-run") / "data" / "postmaster.pid"
    return int(pid_file.read_text().split()[0])
