"""What every long-running component receives from the composition root.

A component is `async def run(runtime: Runtime[<its settings>, DossierLookup]) -> None`
in `<package>/service.py`: it runs until cancelled, cleans up on cancellation,
and raises only for a fault that should stop the gateway. It takes what it needs
from here and never reads the environment itself.

A Protocol, generic in the settings and the lookup, because the kernel imports
no component: each component names the slice of the settings it reads (e.g.
sms.settings.SmsConfig) and lookup.port.DossierLookup; gateway.runtime.Runtime,
built by gateway/app.py with the whole Settings aggregate, fits every one.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from kernel.bus import EventBus
from kernel.db import Database
from kernel.histogram import LatencyHistogram
from kernel.looplag import LoopLagMonitor

S_co = TypeVar("S_co", covariant=True)
L_co = TypeVar("L_co", covariant=True)


class Runtime(Protocol[S_co, L_co]):
    @property
    def settings(self) -> S_co: ...

    @property
    def lookup(self) -> L_co: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def loop_lag(self) -> LoopLagMonitor | None: ...

    @property
    def db(self) -> Database | None:
        """The process's one Database for every store; None: each store opens its own."""

    @property
    def lookup_latency(self) -> LatencyHistogram | None:
        """Every dossier look-up's latency, for the metrics export; None: not measured."""
