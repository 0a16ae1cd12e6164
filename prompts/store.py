"""Where prompt audio lives, and the database that says what is live.

The database is the one truth (prompts/schema.py): every version's metadata, its
Asterisk-ready files, the manifest (which version callers hear) and the history.
Disk holds what is made from it:

    <sounds>/vi/tracuu/<id>.{alaw,ulaw,sln,sln16,wav}   live: what Asterisk plays,
                                                         materialised from the database
    <store>/versions/<id>/<n>/<id>.<fmt>                 a version's files, made here on import
                                                         or fetched from the database to listen
    <store>/tts/<key>/audio.<fmt>                        this machine's placeholder render cache
    <store>/manifest.json.imported                       the old JSON manifest, kept as a backup

Going live (publish): the version's files are read from the database, written to
a temp name in the live directory and renamed over the live name, one format at a
time. Each rename is atomic, so Asterisk opens either the old or the new file,
never a partial one (a call already playing keeps the old file open to its end).
Several gateways (and `tracuu prompts sync` on an Asterisk-only host) do the same
from the same rows, so every Asterisk plays the same approved version.
Refuses: audio processing (prompts/audio.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prompts import rows
from prompts.audio import FORMATS
from prompts.database import PromptDb
from prompts.versions import FORMAT_VERSION, Event, FileInfo, PromptRecord, Version

PROMPT_ID = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", re.ASCII)


class StoreError(Exception):
    """The sounds store is unreadable or inconsistent in a way that needs a person."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Temp file in the same directory, fsync, rename: readers see old or new, never half."""
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def make_dirs(path: Path) -> None:
    """mkdir -p, each new directory 0755: Asterisk's user must be able to walk into the
    sounds directory whatever the umask of whoever ran the CLI."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o755)


def file_infos(directory: Path, name: str) -> dict[str, FileInfo]:
    return {
        fmt: FileInfo(
            sha256_of(directory / f"{name}.{fmt}"), (directory / f"{name}.{fmt}").stat().st_size
        )
        for fmt in FORMATS
    }


def _version_from(data: dict[str, Any]) -> Version:
    files = {fmt: FileInfo(**info) for fmt, info in data.pop("files").items()}
    return Version(files=files, **data)


class Manifest:
    """Prompt id -> PromptRecord, plus the texts of dynamic prompts (txt_<hash>)."""

    def __init__(
        self, records: dict[str, PromptRecord] | None = None, dynamic: dict[str, str] | None = None
    ) -> None:
        self.records: dict[str, PromptRecord] = records or {}
        self.dynamic: dict[str, str] = dynamic or {}

    def record(self, prompt_id: str) -> PromptRecord:
        return self.records.get(prompt_id) or PromptRecord(prompt_id)

    def to_json(self) -> bytes:
        prompts = {
            pid: {
                "live": r.live,
                "versions": [asdict(v) for v in r.versions],
                "history": [_legacy_text(e) for e in r.history],
            }
            for pid, r in sorted(self.records.items())
        }
        data = {
            "format": FORMAT_VERSION,
            "prompts": prompts,
            "dynamic": dict(sorted(self.dynamic.items())),
        }
        return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, blob: bytes) -> Manifest:
        data = json.loads(blob)
        if data.get("format") != FORMAT_VERSION:
            raise StoreError(f"manifest format {data.get('format')!r}, expected {FORMAT_VERSION}")
        records = {
            pid: PromptRecord(
                prompt_id=pid,
                versions=tuple(_version_from(dict(v)) for v in entry["versions"]),
                live=entry["live"],
                history=tuple(_legacy_line(line) for line in entry.get("history", ())),
            )
            for pid, entry in data["prompts"].items()
        }
        return cls(records, dict(data.get("dynamic", {})))


_LEGACY = re.compile(r"(placeholder) rendered|(imported|approved|rolled back to) v(\d+)")


def _legacy_line(line: str) -> Event:
    """A history line of the old JSON manifest ("<at> <who>: <what>") as an event; a line
    it cannot read is kept as written."""
    at, _, rest = line.partition(" ")
    by, _, what = rest.partition(": ")
    found = _LEGACY.fullmatch(what)
    if found is None:
        return Event(at, by, "note", -1, rest)
    if found[1]:
        return Event(at, by, "placeholder", 0)
    action = {"imported": "imported", "approved": "approved"}.get(found[2], "rolled_back")
    return Event(at, by, action, int(found[3]))  # type: ignore[arg-type]


def _legacy_text(event: Event) -> str:
    from prompts.history import logged_step

    if event.action == "note":
        return f"{event.at} {event.note}"
    return f"{event.at} {event.by}: {logged_step(event)}"


class Store:
    """The prompts of one installation: its database, and this machine's directories."""

    def __init__(self, sounds_dir: Path, store_dir: Path, db: PromptDb) -> None:
        self.live_dir = sounds_dir / "vi" / "tracuu"
        self.root = store_dir
        self.db = db
        self.manifest_path = store_dir / "manifest.json"  # the legacy file (prompts/legacy.py)

    # --- paths -------------------------------------------------------------------------

    def tts_dir(self, key: str) -> Path:
        return self.root / "tts" / key

    def version_dir(self, prompt_id: str, number: int) -> Path:
        check_id(prompt_id)
        return self.root / "versions" / prompt_id / str(number)

    def files_of(self, prompt_id: str, version: Version) -> tuple[Path, str]:
        """The directory and base name of a version's files."""
        if version.source == "tts":
            return self.tts_dir(version.key), "audio"
        return self.version_dir(prompt_id, version.number), prompt_id

    def live_path(self, prompt_id: str, fmt: str) -> Path:
        check_id(prompt_id)
        return self.live_dir / f"{prompt_id}.{fmt}"

    # --- the manifest, from the database -------------------------------------------------

    def read(self) -> Manifest:
        def job(conn: Any) -> Manifest:
            return Manifest(rows.load_records(conn), rows.dynamic(conn))

        return self.db.run(job)

    def record(self, prompt_id: str) -> PromptRecord:
        return self.db.run(lambda conn: rows.load_record(conn, prompt_id))

    # --- going live --------------------------------------------------------------------

    def publish(self, prompt_id: str, version: Version) -> None:
        """Put a version's files (from the database) in place of the live ones, one atomic
        rename per format."""
        blobs = self.db.run(lambda conn: rows.audio(conn, prompt_id, version.number, FORMATS))
        self.write_live(prompt_id, version.number, version.files, blobs)

    def write_live(
        self,
        prompt_id: str,
        number: int,
        files: dict[str, FileInfo],
        blobs: dict[str, bytes],
    ) -> None:
        for fmt in FORMATS:
            data = blobs.get(fmt)
            expected = files.get(fmt)
            if data is None or expected is None:
                raise StoreError(f"{prompt_id} v{number}: no {fmt} file in the database")
            if hashlib.sha256(data).hexdigest() != expected.sha256:
                raise StoreError(f"{prompt_id} v{number}: the {fmt} file differs from its checksum")
        self._make_live_dir()
        for fmt in FORMATS:
            # Temp names are per process and thread: two materialisers on one host (the
            # gateway and the CLI) never write into each other's temp file.
            tmp = self.live_dir / f".{prompt_id}.{fmt}.{os.getpid()}-{threading.get_ident()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            with tmp.open("wb") as out:
                out.write(blobs[fmt])
                out.flush()
                os.fsync(out.fileno())
            tmp.chmod(0o644)
            os.replace(tmp, self.live_path(prompt_id, fmt))
        fsync_dir(self.live_dir)

    def local_file(self, prompt_id: str, version: Version, fmt: str = "wav") -> Path:
        """A version's file on this machine, fetched from the database if another gateway
        made it (to listen to a draft before approving it)."""
        directory, name = self.files_of(prompt_id, version)
        path = directory / f"{name}.{fmt}"
        expected = version.files.get(fmt)
        if path.is_file() and (expected is None or path.stat().st_size == expected.bytes):
            return path
        blobs = self.db.run(lambda conn: rows.audio(conn, prompt_id, version.number, (fmt,)))
        if fmt not in blobs:
            raise StoreError(f"{prompt_id} v{version.number}: no {fmt} file in the database")
        write_atomically(path, blobs[fmt])
        return path

    def _make_live_dir(self) -> None:
        make_dirs(self.live_dir)

    def sweep(self, older_than_s: float = 3600.0) -> list[Path]:
        """Remove temp files and directories left by killed processes; returns what went.

        Only dot-names this module and its callers create (`.<key>.*`, `.import.*`,
        `.<id>.<fmt>.<pid>.tmp`), and only when old enough not to belong to a live run.
        """
        limit = time.time() - older_than_s
        candidates = [
            *self.live_dir.glob(".*.tmp"),
            *(self.root / "tts").glob(".*"),
            *(self.root / "versions").glob("*/.import.*"),
        ]
        removed = []
        for path in candidates:
            try:
                if path.lstat().st_mtime > limit:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return removed

    def live_matches(self, prompt_id: str, version: Version) -> dict[str, str]:
        """Format -> problem ("missing", "differs"), for the live files of a version."""
        return self.live_problems(prompt_id, version.files)

    def live_problems(self, prompt_id: str, files: dict[str, FileInfo]) -> dict[str, str]:
        """Format -> problem ("missing", "differs") of this machine's live files, against
        the checksums the database has for them."""
        problems: dict[str, str] = {}
        for fmt in FORMATS:
            path = self.live_path(prompt_id, fmt)
            expected = files.get(fmt)
            if not path.is_file():
                problems[fmt] = "missing"
            elif (
                expected is None
                or path.stat().st_size != expected.bytes
                or sha256_of(path) != expected.sha256
            ):
                problems[fmt] = "differs"
        return problems


def check_id(prompt_id: str) -> None:
    # Prompt ids become file names: only snake_case ASCII may reach a path.
    if not PROMPT_ID.fullmatch(prompt_id):
        raise ValueError(f"{prompt_id!r} is not a prompt id (snake_case ASCII)")
