"""What every long-running component receives from the composition root.

A component is `async def run(runtime: Runtime) -> None` in `<package>/service.py`:
it runs until cancelled, cleans up on cancellation, and raises only for a fault
that should stop the gateway. Components take what they need from here and
never read the environment themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.settings import Settings
from kernel.bus import EventBus
from kernel.db import Database
from kernel.looplag import LoopLagMonitor
from lookup.port import DossierLookup


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    lookup: DossierLookup
    bus: EventBus
    # The event loop's lag, started by the composition root (read by the metrics export).
    loop_lag: LoopLagMonitor | None = None
    # The process's one Database (kernel.db) for every store; None: PostgreSQL stores are
    # not there yet (issue 10), or a test that lets each component open its own.
    db: Database | None = None
