"""Has anyone else written to the outbox? A cheap question the idle link asks twice a second.

Messages are queued by other processes too (`tracuu reminders run --once`,
`tracuu sms send-test`, a second gateway worker): none of them can ring the
link's in-process doorbell, and an idle link would otherwise sleep until the
next enquire_link or incoming SMS. The link asks `changed()` every WATCH_S
while it has nothing due; a yes makes it look at the queue again.

SQLite: `PRAGMA data_version` on a connection of its own changes whenever
another connection commits (https://sqlite.org/pragma.html#pragma_data_version);
no table is read. PostgreSQL can answer the same question with LISTEN on a
channel the enqueue transaction NOTIFYs: another OutboxWatch, same protocol.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

from kernel.db import Location, is_postgres, sqlite_path

WATCH_S = 0.5
# PostgreSQL: the channel an insert into sms_part notifies (the sms component's step 7).
CHANNEL = "tracuu_outbox"


class OutboxWatch(Protocol):
    def changed(self) -> bool:
        """True if the outbox may hold new work since the last call (false alarms are fine)."""

    def close(self) -> None: ...


def outbox_watch(database: Location) -> OutboxWatch:
    """The watch for where the outbox lives."""
    if is_postgres(database):
        from kernel.db_postgres import Listener

        return Listener(database.get_secret_value() if hasattr(database, "get_secret_value")
                        else str(database), CHANNEL)  # fmt: skip
    return SqliteOutboxWatch(sqlite_path(str(database)))


class SqliteOutboxWatch:
    """PRAGMA data_version on a connection of its own that never writes (link thread)."""

    def __init__(self, path: Path | str) -> None:
        self._conn = sqlite3.connect(path)
        self._version = self._read()

    def _read(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def changed(self) -> bool:
        try:
            version = self._read()
        except sqlite3.Error:
            return True  # cannot tell: look at the queue (which reports its own errors)
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        self._conn.close()
