"""A throwaway PostgreSQL server for tests: Debian's binaries, a data directory in
/tmp, a Unix socket only (no TCP port at all), fsync off. The same mechanism as
tests/test_lookup_postgres.py, shared by the stores' tests (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_INSTALLED = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
BIN = Path(os.environ.get("TRACUU_PG_BIN", _INSTALLED[-1] if _INSTALLED else "/nonexistent"))


def _as_postgres(*command: str) -> list[str]:
    # PostgreSQL refuses to run as root: drop to the postgres user when we are root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return list(command)


def available() -> str | None:
    """None when a server can be started here, else why not."""
    if not (BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser"
    return None


@contextmanager
def server(port: int) -> Iterator[str]:
    """Start a server; yields the URL of its `postgres` database (user tracuu, trust)."""
    home = Path(tempfile.mkdtemp(prefix="tracuu-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data = home / "data"
    subprocess.run(
        _as_postgres(str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "tracuu",
                     "-E", "UTF8", "--no-sync"),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    _start(home, port)
    try:
        yield f"postgresql://tracuu@/postgres?host={home}&port={port}"
    finally:
        subprocess.run(
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def _start(home: Path, port: int) -> None:
    options = f"-k {home} -c listen_addresses='' -p {port} -F -c max_connections=300"
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(home / "data"), "-o", options, "-l",
                     str(home / "log"), "-w", "-t", "60", "start"),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _where(url: str) -> tuple[Path, int]:
    """The server's directory and port, from a URL server() yielded."""
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    return Path(query["host"]), int(query["port"])


def stop(url: str, mode: str = "fast") -> None:
    """Stop the server of `url` (fast: sessions are ended, as a restart does)."""
    home, _ = _where(url)
    subprocess.run(
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(home / "data"), "-m", mode, "-w", "stop"),
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def start(url: str) -> None:
    """Start again the server of `url` after stop()."""
    home, port = _where(url)
    _start(home, port)


def _processes(url: str) -> list[int]:
    """The postmaster of `url`'s server and every process it started."""
    home, _ = _where(url)
    postmaster = int((home / "data" / "postmaster.pid").read_text().split()[0])
    found = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == postmaster:
            found.append(int(stat.parent.name))
    return found


def freeze(url: str) -> None:
    """SIGSTOP the whole server: connections stay open and nothing answers, as with a
    network partition or a stalled disk (no error for anyone to see)."""
    for pid in _processes(url):
        os.kill(pid, signal.SIGSTOP)


def thaw(url: str) -> None:
    for pid in _processes(url):
        os.kill(pid, signal.SIGCONT)
