"""Has anyone else written to the outbox? A cheap question the idle link asks twice a second.

Messages are queued by other processes too (the gateway when the link runs in its
worker process, `tracuu reminders run --once`, `tracuu sms send-test`, a second
gateway instance): none of them can ring the link's doorbell in this process, and an
idle link would otherwise sleep until the next enquire_link or incoming SMS. The
link asks `changed()` every WATCH_S while it has nothing due; a yes makes it look at
the queue again. How the database answers is kernel.db's (change_watch): SQLite's
data_version, PostgreSQL's LISTEN on CHANNEL, which sms_part's trigger NOTIFYs
(sms/outbox.py, the migration step that creates tracuu_outbox_notify).
"""

from __future__ import annotations

from kernel.db import ChangeWatch, Location, change_watch

WATCH_S = 0.5
# PostgreSQL: the channel an insert into sms_part notifies.
CHANNEL = "tracuu_outbox"

OutboxWatch = ChangeWatch


def outbox_watch(database: Location) -> OutboxWatch:
    """The watch for where the outbox lives."""
    return change_watch(database, CHANNEL)
