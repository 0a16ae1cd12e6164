"""Where prompt audio lives on disk, and the manifest that says what is live.

Layout (the store defaults to <sounds>/.tracuu, on the same file system):

    <sounds>/vi/tracuu/<id>.{alaw,ulaw,sln,sln16,wav}   live: what Asterisk plays
    <store>/versions/<id>/<n>/<id>.<fmt>                 staff recording n, and original.<ext>
    <store>/tts/<key>/audio.<fmt>                        placeholders, keyed by text+engine+voice
    <store>/manifest.json                                versions, who/when, checksums, live
    <store>/lock                                         flock: one writer at a time

Why a JSON manifest and not SQLite: it is small (one record per prompt), read
whole at start-up, and people read it when a prompt sounds wrong; it travels with
the sounds directory in a backup. Writers (the CLI, the start-up render) take an
exclusive flock for each read-modify-write, and the file is replaced atomically
(temp file, fsync, rename), so a killed process leaves the previous manifest.

Going live: a version's files are copied to a temp name in the live directory
and renamed over the live name, one format at a time. Each rename is atomic, so
Asterisk opens either the old or the new file, never a partial one (a call
already playing keeps the old file open to its end). The manifest is written
after the switch, so a process killed half-way leaves the old version recorded;
the start-up check reports the mismatch and `tracuu prompts render` puts the
recorded version back. Refuses: audio processing (prompts/audio.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prompts.audio import FORMATS
from prompts.versions import FORMAT_VERSION, FileInfo, PromptRecord, Version

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
                "history": list(r.history),
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
                history=tuple(entry.get("history", ())),
            )
            for pid, entry in data["prompts"].items()
        }
        return cls(records, dict(data.get("dynamic", {})))


class Store:
    def __init__(self, sounds_dir: Path, store_dir: Path) -> None:
        self.live_dir = sounds_dir / "vi" / "tracuu"
        self.root = store_dir
        self.manifest_path = store_dir / "manifest.json"

    # --- paths -------------------------------------------------------------------------

    def tts_dir(self, key: str) -> Path:
        return self.root / "tts" / key

    def version_dir(self, prompt_id: str, number: int) -> Path:
        _check_id(prompt_id)
        return self.root / "versions" / prompt_id / str(number)

    def files_of(self, prompt_id: str, version: Version) -> tuple[Path, str]:
        """The directory and base name of a version's files."""
        if version.source == "tts":
            return self.tts_dir(version.key), "audio"
        return self.version_dir(prompt_id, version.number), prompt_id

    def live_path(self, prompt_id: str, fmt: str) -> Path:
        _check_id(prompt_id)
        return self.live_dir / f"{prompt_id}.{fmt}"

    # --- manifest ----------------------------------------------------------------------

    def read(self) -> Manifest:
        try:
            blob = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return Manifest()
        try:
            return Manifest.from_json(blob)
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{self.manifest_path} is damaged: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Manifest]:
        """Exclusive read-modify-write of the manifest; written only if the block succeeds."""
        make_dirs(self.root)
        with (self.root / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                manifest = self.read()
                yield manifest
                write_atomically(self.manifest_path, manifest.to_json())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- going live --------------------------------------------------------------------

    def publish(self, prompt_id: str, version: Version) -> None:
        """Put a version's files in place of the live ones, one atomic rename per format."""
        source_dir, name = self.files_of(prompt_id, version)
        self._make_live_dir()
        for fmt in FORMATS:
            source = source_dir / f"{name}.{fmt}"
            if not source.is_file():
                raise StoreError(f"{source} is missing: version {version.number} of {prompt_id}")
            tmp = self.live_dir / f".{prompt_id}.{fmt}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            # A copy, not a hard link: a live file edited in place (sox, an editor) must
            # not change the stored version it came from.
            shutil.copyfile(source, tmp)
            tmp.chmod(0o644)
            os.replace(tmp, self.live_path(prompt_id, fmt))
        fsync_dir(self.live_dir)

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
            *self.root.glob(".manifest.json.*.tmp"),
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
        problems: dict[str, str] = {}
        for fmt in FORMATS:
            path = self.live_path(prompt_id, fmt)
            expected = version.files.get(fmt)
            if not path.is_file():
                problems[fmt] = "missing"
            elif (
                expected is None
                or path.stat().st_size != expected.bytes
                or sha256_of(path) != expected.sha256
            ):
                problems[fmt] = "differs"
        return problems


def _check_id(prompt_id: str) -> None:
    # Prompt ids become file names: only snake_case ASCII may reach a path.
    if not PROMPT_ID.fullmatch(prompt_id):
        raise ValueError(f"{prompt_id!r} is not a prompt id (snake_case ASCII)")
