"""Parts a dead gateway instance was sending: taken over by a live one.

A link marks a part 'submitting' (with claimed_at, the claimer's wall clock) and
commits before its bytes leave; the part is settled when the submit_sm_resp comes,
or put back when the connection drops (Dispatcher.requeue_inflight). An instance
killed with SIGKILL (or whose host died) settles nothing: its parts stay
'submitting'. With one instance the next start puts them back; with several on
one PostgreSQL the others must, and soon, without taking a live instance's parts.

A live link settles every part within response_timeout_s (no answer by then: the
link is dead, it reconnects and puts the parts back), so a part older than
smpp.lease_s (> response_timeout_s) has lost its instance. Every pump sweeps every
SWEEP_EVERY_S: the worst-case delay before a dead instance's parts go out again is
lease_s + SWEEP_EVERY_S (plus one claim). The parts go back marked uncertain: the
SMSC may have accepted some before the kill (at most one window per bind), and
those reach the citizen twice; the outbox records which (docs/reliability.md).

Why a lease and not the instance registry's heartbeats (console/board_registry.py):
the SMS component does not depend on the console, the lease needs no second clock
source, and it also frees parts a live instance failed to put back (its database
connection was down at the drop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kernel.db import Database
from sms.outbox import Outbox

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 5.0


class LeaseSweeper:
    """Puts back parts claimed more than lease_s ago; call due() every pump tick."""

    def __init__(self, db: Database, lease_s: float, wall: Callable[[], float]) -> None:
        self._db = db
        self._lease_s = lease_s
        self._wall = wall
        self._swept_at = 0.0
        self.taken_over = 0  # parts put back, for tests and logs

    async def due(self) -> int:
        """Sweep if SWEEP_EVERY_S has passed since the last sweep; parts put back."""
        now = self._wall()
        if now - self._swept_at < SWEEP_EVERY_S:
            return 0
        self._swept_at = now
        return await self.sweep(now)

    async def sweep(self, now: float) -> int:
        before = now - self._lease_s
        taken = await self._db.run(lambda c: Outbox(c).recover(before))
        if taken:
            self.taken_over += taken
            log.warning(
                "sms: %d message parts claimed over %.0f s ago by an instance that did not"
                " settle them: sending them again (marked uncertain)",
                taken,
                self._lease_s,
            )
        return taken
