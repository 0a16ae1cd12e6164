"""From an installation of before the database: the JSON manifest and its files, once.

On the first start with the prompts' tables (prompts/service.py, `tracuu prompts
...`), `<store>/manifest.json` and the files it names are copied into the
database: every version with its audio and checksums, the live choice, the
history (its English lines become events the studio words in Vietnamese) and the
dynamic texts. One prompt per transaction (a version's audio is held in memory
only while it is written), and a prompt the database already knows is left as
the database has it, so a second run, or a second gateway with its own old
manifest, changes nothing. The file is then renamed manifest.json.imported: kept
as a backup, never written again (nothing writes JSON any more).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kernel.db import Conn
from prompts import rows
from prompts.audio import FORMATS
from prompts.render import now_iso
from prompts.store import Manifest, Store
from prompts.versions import FileInfo, PromptRecord, Version

log = logging.getLogger(__name__)

SOURCE = "manifest.json"
BACKUP_SUFFIX = ".imported"


@dataclass(frozen=True)
class Imported:
    prompts: int  # prompts written to the database now
    kept: int  # prompts the database knew already, left as they are
    missing_audio: tuple[str, ...]  # "<id> v<n>": files the manifest names but the disk lacks
    backup: Path | None


def _blobs(store: Store, prompt_id: str, version: Version) -> dict[str, tuple[FileInfo, bytes]]:
    directory, name = store.files_of(prompt_id, version)
    blobs: dict[str, tuple[FileInfo, bytes]] = {}
    for fmt in FORMATS:
        path = directory / f"{name}.{fmt}"
        if not path.is_file():
            continue
        data = path.read_bytes()
        blobs[fmt] = (FileInfo(hashlib.sha256(data).hexdigest(), len(data)), data)
    for original in directory.glob("original.*") if version.source == "recording" else ():
        data = original.read_bytes()
        blobs[rows.ORIGINAL] = (FileInfo(hashlib.sha256(data).hexdigest(), len(data)), data)
    return blobs


def import_json(store: Store) -> Imported | None:
    """Import the legacy manifest if there is one and it was never imported; else None.

    Blocking (files, database): a worker thread or the CLI."""
    path = store.manifest_path
    if not path.is_file():
        return None
    done = store.db.run(
        lambda conn: conn.fetchval(
            "SELECT imported_at FROM prompt_import WHERE source = ?", (SOURCE,)
        )
    )
    if done is not None:
        log.warning(
            "%s was not imported: the database holds the prompts imported at %s (from this "
            "or another gateway); the file is kept as it is and no longer read",
            path,
            done,
        )
        return None
    manifest = Manifest.from_json(path.read_bytes())  # StoreError when damaged: a person looks
    at = now_iso()
    written = kept = 0
    missing: list[str] = []
    for prompt_id, record in sorted(manifest.records.items()):
        blobs = {v.number: _blobs(store, prompt_id, v) for v in record.versions}
        for v in record.versions:
            if not set(FORMATS) <= set(blobs[v.number]):
                missing.append(f"{prompt_id} v{v.number}")
        if store.db.run(partial(_import_one, record=record, blobs=blobs, at=at)):
            written += 1
        else:
            kept += 1

    def finish(conn: Conn) -> None:
        rows.put_dynamic(
            conn, {pid: t for pid, t in manifest.dynamic.items() if pid not in rows.dynamic(conn)}
        )
        conn.execute(
            "INSERT INTO prompt_import (source, imported_at, prompts) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO NOTHING",
            (SOURCE, at, written),
        )

    store.db.run(finish)
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    for n in itertools.count(2):
        if not backup.exists():
            break
        backup = path.with_name(f"{path.name}{BACKUP_SUFFIX}.{n}")
    with contextlib.suppress(FileNotFoundError):  # a second process importing at once
        path.rename(backup)
    log.info(
        "voice prompts: %d imported from %s into the database (%d known there already, kept); "
        "the file is kept as %s",
        written,
        path,
        kept,
        backup,
    )
    if missing:
        log.warning(
            "voice prompts imported without some of their files (not on this disk): %s",
            ", ".join(missing),
        )
    return Imported(written, kept, tuple(missing), backup)


def _import_one(
    conn: Conn,
    *,
    record: PromptRecord,
    blobs: dict[int, dict[str, tuple[FileInfo, bytes]]],
    at: str,
) -> bool:
    generation = rows.lock(conn)
    before = rows.load_record(conn, record.prompt_id)
    if before.versions:
        return False  # the database's truth wins over an old file
    for number, files in blobs.items():
        if files:
            rows.put_audio(conn, record.prompt_id, number, files)
    rows.save(conn, before, record, generation, at)
    return True
