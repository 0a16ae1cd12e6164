"""This machine's sounds directory, written from the database and kept so.

Every gateway (and `tracuu prompts sync --follow` on an Asterisk host without a
gateway) runs one Materialiser. `sync()` asks the database which prompts' live
version changed since the generation it last wrote (all of them the first
time), compares the files here with the stored checksums, and writes only what
differs: temp file, fsync, rename, so Asterisk opens the old file or the new
one, never half of one. Blocking (files, database): a worker thread.

`follow()` is the running part: it syncs at start, then whenever the manifest's
generation moves. On PostgreSQL a LISTEN wakes it as soon as another gateway
commits a change (the NOTIFY is sent by that transaction, prompts/rows.py); it
still reads the generation every `check_s` in case a notification was missed
(a dropped LISTEN connection). On SQLite, every writer is on this machine and
the process that changes the manifest writes the files itself; the generation
is read every `poll_s` from a reader thread (one row, no write lock) for the
CLI's changes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from kernel.db import Conn, Database
from prompts import rows
from prompts.audio import FORMATS
from prompts.store import Store, StoreError

if TYPE_CHECKING:
    from kernel.db_postgres import Listener

log = logging.getLogger(__name__)


@dataclass
class Synced:
    generation: int
    written: list[str] = field(default_factory=list)  # prompts whose files were (re)written
    failed: dict[str, str] = field(default_factory=dict)  # prompt id -> why not


class Materialiser:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.generation = 0  # every live change up to this one is on disk here
        # A version whose files cannot be written (the database lacks them, e.g. imported
        # from an old manifest without its audio): tried again only when its prompt changes.
        self._given_up: dict[str, int] = {}

    def sync(self) -> Synced:
        """Write what changed since the last sync (everything, the first time)."""
        since = self.generation

        def job(conn: Conn) -> tuple[int, list[rows.LiveEntry]]:
            return rows.generation(conn), rows.live_since(conn, since)

        current, entries = self.store.db.run(job)
        done = Synced(current)
        for entry in entries:
            if self._given_up.get(entry.prompt_id) == entry.generation:
                continue
            if not self.store.live_problems(entry.prompt_id, entry.files):
                continue  # already right here (written by this process, or unchanged)
            try:
                blobs = self.store.db.run(
                    partial(
                        rows.audio, prompt_id=entry.prompt_id, number=entry.number, formats=FORMATS
                    )
                )
                self.store.write_live(entry.prompt_id, entry.number, entry.files, blobs)
            except (StoreError, OSError) as exc:
                self._given_up[entry.prompt_id] = entry.generation
                done.failed[entry.prompt_id] = str(exc)
                log.error(  # noqa: TRY400 - the reason is the message; no stack needed
                    "voice prompt %s v%d cannot be written to %s: %s",
                    entry.prompt_id,
                    entry.number,
                    self.store.live_dir,
                    exc,
                )
                continue
            done.written.append(entry.prompt_id)
        self.generation = current
        if done.written:
            shown = done.written[:10]  # a first sync writes hundreds: one readable line
            more = f" and {len(done.written) - len(shown)} more" if len(done.written) > 10 else ""
            log.info(
                "voice prompts written from the database (generation %d): %s%s",
                current,
                ", ".join(shown),
                more,
            )
        return done


async def follow(
    db: Database, materialiser: Materialiser, *, poll_s: float = 1.0, check_s: float = 30.0
) -> None:
    """Sync now, then on every change of the manifest, until cancelled. Faults (the
    database down, a disk full) are logged and tried again; never fatal."""
    listener = await _listen(db)
    waited = 0.0
    try:
        while True:
            try:
                current = await db.fetchval(
                    "SELECT value FROM prompt_generation WHERE name = 'manifest'"
                )
                if current is None or int(current) != materialiser.generation:
                    await asyncio.to_thread(materialiser.sync)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("voice prompts: the sounds directory could not be synced")
            waited = 0.0
            while True:
                await asyncio.sleep(_TICK_S if listener is not None else poll_s)
                waited += _TICK_S if listener is not None else poll_s
                if listener is None or listener.changed() or waited >= check_s:
                    break
    finally:
        if listener is not None:
            await asyncio.to_thread(listener.close)


# How often a PostgreSQL follower looks at its LISTEN flag (a memory read, no query).
_TICK_S = 0.1


async def _listen(db: Database) -> Listener | None:
    url = getattr(db, "url", None)
    if db.backend != "postgresql" or not isinstance(url, str):
        return None
    from kernel.db_postgres import Listener

    try:
        return await asyncio.to_thread(Listener, url, rows.CHANNEL)
    except Exception:
        log.warning("voice prompts: LISTEN %s failed; reading the generation instead", rows.CHANNEL)
        return None
