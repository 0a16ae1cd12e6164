"""The runtime the composition root hands every component: the whole Settings aggregate,
the one shared lookup and the event bus. Components type it as kernel.runtime.Runtime
with the slice of the settings they read; this dataclass fits each of them."""

from __future__ import annotations

from dataclasses import dataclass

from console.config_view import OriginOf
from gateway.settings import Settings
from kernel.bus import EventBus
from kernel.db import Database
from kernel.histogram import LatencyHistogram
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
    # Every dossier look-up's latency (lookup/timed.py wraps `lookup`), read by /metrics.
    lookup_latency: LatencyHistogram | None = None
    # Where each setting came from (gateway/provenance.py), for the console's /settings.
    config_origins: OriginOf | None = None
