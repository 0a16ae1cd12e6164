"""Operations: /readyz (can this gateway serve?) and /metrics (Prometheus text format).

/healthz (console/app.py) says the process answers. /readyz says whether it can
do its work: the database reachable, the SMPP link bound and AMI connected where
they are configured; 503 with the reasons otherwise (public: a load balancer or
orchestrator probes it without credentials; it says ok or a reason word, no figures).
/metrics is read by a Prometheus server with the bearer token
settings.http.metrics_token, or by a signed-in operator: its figures (traffic,
queue depths, throttles) are the office's business, not the public's.

Figures come from what the gateway already keeps: the event bus's latest state
(calls in the IVR, lines, SMPP binds and their counters), the hourly statistics
(console/stats.py: calls by outcome, SMS in/out, reminders by kind), the outbox
by state, the sign-in throttle, the loop-lag monitor (kernel/looplag.py) and the
lookup latency histogram (kernel/histogram.py). Each scrape builds a fresh
registry from one snapshot, so nothing is kept twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from console.access import public, token_or
from console.board_metrics import InstancesCollector
from console.roles import Role
from kernel.bus import EventBus
from kernel.db import Database, DatabaseError
from kernel.histogram import LatencyHistogram
from kernel.looplag import LoopLagMonitor
from lookup.port import DossierLookup, LookupUnavailable

log = logging.getLogger(__name__)
PROBE_S = 2.0


@dataclass
class OpsConfig:
    """What the composition root tells the console about the rest of the gateway."""

    smpp_configured: bool = False
    ami_configured: bool = False
    loop_lag: LoopLagMonitor | None = None
    lookup_latency: LatencyHistogram | None = None


@dataclass
class Sources:
    bus: EventBus
    lookup: DossierLookup
    db: Callable[[], Database | None]
    config: OpsConfig
    throttled: Callable[[], dict[str, int]]  # kind -> requests held back since start
    # The board's frame with every gateway instance (console/board_metrics.py); None: alone.
    instances: Callable[[], dict[str, Any]] | None = None
    ended: Counter[str] = field(default_factory=Counter)  # calls ended, by last step


OPS = web.AppKey("ops", Sources)


def add_routes(app: web.Application, sources: Sources) -> None:
    app[OPS] = sources
    app.cleanup_ctx.append(_count_ended_calls)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def _count_ended_calls(app: web.Application) -> AsyncIterator[None]:
    sources = app[OPS]

    async def count() -> None:
        async with sources.bus.subscribe() as events:
            async for event in events:
                if event.topic == "ivr_call_ended":
                    sources.ended[str(event.data.get("stage") or "unknown")] += 1

    task = asyncio.create_task(count(), name="metrics-calls")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ---- readiness


async def checks(sources: Sources) -> dict[str, str]:
    """'ok' or the reason, per check."""
    out: dict[str, str] = {}
    db = sources.db()
    try:
        async with asyncio.timeout(PROBE_S):
            if db is not None:
                await db.fetchval("SELECT 1")
            await sources.lookup.procedure("readyz-probe")
        out["database"] = "ok"
    except (DatabaseError, LookupUnavailable, TimeoutError, OSError) as exc:
        out["database"] = f"unreachable ({type(exc).__name__})"
    latest = sources.bus.latest
    if sources.config.smpp_configured:
        link = latest.get(("sms", "link"))
        state = str(link.data.get("link")) if link else "no state yet"
        out["smpp"] = "ok" if state == "up" else f"not bound ({state})"
    if sources.config.ami_configured:
        lines = latest.get(("lines", "asterisk"))
        up = lines is not None and lines.data.get("connected") is True
        out["ami"] = "ok" if up else "not connected"
    return out


@public
async def readyz(request: web.Request) -> web.Response:
    found = await checks(request.app[OPS])
    ready = all(value == "ok" for value in found.values())
    return web.json_response(
        {"ready": ready, "checks": found},
        status=200 if ready else 503,
        dumps=_dumps,
    )


def _dumps(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# ---- metrics


@dataclass
class Snapshot:
    calls_by_stage: dict[str, int]
    ended: dict[str, int]
    lines: dict[str, Any] | None
    binds: list[dict[str, Any]]
    link_up: bool | None
    outbox: dict[str, int]
    totals: dict[str, int]
    throttled: dict[str, int]
    loop_lag: Any
    lookup_latency: dict[str, Any]


async def _rows(db: Database | None, sql: str) -> list[tuple[str, int]]:
    if db is None:
        return []
    try:
        async with asyncio.timeout(PROBE_S):
            rows = await db.fetchall(sql)
    except (DatabaseError, TimeoutError):  # a table not there (yet): no figures
        return []
    return [(str(row[0]), int(row[1] or 0)) for row in rows]


async def snapshot(sources: Sources) -> Snapshot:
    latest = sources.bus.latest
    stages = Counter(
        str(event.data.get("stage", "unknown"))
        for (topic, _), event in latest.items()
        if topic == "ivr_call"
    )
    lines_event = latest.get(("lines", "asterisk"))
    binds = [dict(e.data) for (t, k), e in latest.items() if t == "sms" and k.startswith("bind:")]
    link = latest.get(("sms", "link"))
    db = sources.db()
    outbox = dict(await _rows(db, "SELECT state, COUNT(*) FROM sms_message GROUP BY state"))
    totals = dict(
        await _rows(
            db,
            "SELECT metric, SUM(n) FROM stat_hour WHERE metric IN"
            " ('calls', 'answered', 'abandoned', 'sms_in', 'sms_out', 'sms_delivered',"
            " 'sms_failed') OR metric LIKE 'reminder_%' OR metric LIKE 'lookup_%'"
            " GROUP BY metric",
        )
    )
    config = sources.config
    return Snapshot(
        calls_by_stage=dict(stages),
        ended=dict(sources.ended),
        lines=dict(lines_event.data) if lines_event else None,
        binds=binds,
        link_up=None if link is None else link.data.get("link") == "up",
        outbox=outbox,
        totals=totals,
        throttled=sources.throttled(),
        loop_lag=config.loop_lag.figures() if config.loop_lag else None,
        lookup_latency=config.lookup_latency.figures() if config.lookup_latency else {},
    )


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        calls = GaugeMetricFamily(
            "tracuu_calls_in_progress", "Calls in the IVR now, by menu step", labels=["step"]
        )
        for step, n in sorted(s.calls_by_stage.items()):
            calls.add_metric([step], n)
        yield calls
        ended = CounterMetricFamily(
            "tracuu_calls_ended",
            "Calls ended since start, by the step they ended in",
            labels=["step"],
        )
        for step, n in sorted(s.ended.items()):
            ended.add_metric([step], n)
        yield ended
        outcomes = CounterMetricFamily(
            "tracuu_calls_by_outcome", "Calls by outcome (hourly statistics)", labels=["outcome"]
        )
        for outcome in ("answered", "abandoned"):
            outcomes.add_metric([outcome], s.totals.get(outcome, 0))
        yield outcomes
        if s.lines is not None:
            lines = GaugeMetricFamily(
                "tracuu_lines", "Asterisk channels now (AMI)", labels=["where"]
            )
            lines.add_metric(["in_use"], float(s.lines.get("channels", 0)))
            for where in ("in_ivr", "waiting", "with_officer"):
                lines.add_metric([where], float(s.lines.get(where, 0)))
            yield lines
        lookups = CounterMetricFamily(
            "tracuu_lookups", "Dossier look-ups by channel (hourly statistics)", labels=["channel"]
        )
        for metric, n in sorted(s.totals.items()):
            if metric.startswith("lookup_"):
                lookups.add_metric([metric.removeprefix("lookup_")], n)
        yield lookups
        sms = CounterMetricFamily(
            "tracuu_sms", "SMS in and out (hourly statistics)", labels=["direction"]
        )
        sms.add_metric(["in"], s.totals.get("sms_in", 0))
        sms.add_metric(["out"], s.totals.get("sms_out", 0))
        yield sms
        outbox = GaugeMetricFamily(
            "tracuu_outbox_messages", "Messages in the outbox by state", labels=["state"]
        )
        for state, n in sorted(s.outbox.items()):
            outbox.add_metric([state], n)
        yield outbox
        reminders = CounterMetricFamily(
            "tracuu_reminders",
            "Reminders by kind and outcome (hourly statistics)",
            labels=["kind", "outcome"],
        )
        for metric, n in sorted(s.totals.items()):
            if metric.startswith("reminder_") and ":" in metric:
                outcome, kind = metric.removeprefix("reminder_").split(":", 1)
                reminders.add_metric([kind, outcome], n)
        yield reminders
        if s.link_up is not None:
            yield GaugeMetricFamily(
                "tracuu_smpp_up", "1 while the SMPP link is bound", value=1.0 if s.link_up else 0.0
            )
        for name, help_text in (
            ("reconnects", "SMPP reconnects since start, per bind"),
            ("throttled", "SMSC throttling answers since start, per bind"),
            ("submitted", "SMS parts submitted since start, per bind"),
        ):
            family = CounterMetricFamily(f"tracuu_smpp_{name}", help_text, labels=["bind"])
            for bind in s.binds:
                family.add_metric([str(bind.get("bind", "-"))], float(bind.get(name, 0) or 0))
            yield family
        throttles = CounterMetricFamily(
            "tracuu_throttled_requests",
            "Console requests held back since start",
            labels=["kind"],
        )
        for kind, n in sorted(s.throttled.items()):
            throttles.add_metric([kind], n)
        yield throttles
        if s.lookup_latency:
            latency = HistogramMetricFamily(
                "tracuu_lookup_seconds", "Dossier look-up latency", labels=["method"]
            )
            for method, figures in sorted(s.lookup_latency.items()):
                buckets = [(str(bound), float(n)) for bound, n in figures.buckets]
                buckets.append(("+Inf", float(figures.count)))
                latency.add_metric([method], buckets, figures.sum_s)
            yield latency
        if s.loop_lag is not None:
            lag = s.loop_lag
            yield GaugeMetricFamily(
                "tracuu_event_loop_lag_seconds",
                "How late the event loop ran its last tick",
                value=lag.current_s,
            )
            yield GaugeMetricFamily(
                "tracuu_event_loop_lag_max_seconds",
                "The worst event-loop lag since start",
                value=lag.max_s,
            )
            hist = HistogramMetricFamily(
                "tracuu_event_loop_lag_ticks_seconds", "Event-loop lag of every tick"
            )
            buckets = [(str(bound), float(n)) for bound, n in lag.buckets]
            buckets.append(("+Inf", float(lag.count)))
            hist.add_metric([], buckets, lag.sum_s)
            yield hist


@token_or(Role.OPERATOR)
async def metrics(request: web.Request) -> web.Response:
    sources = request.app[OPS]
    snap = await snapshot(sources)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    if sources.instances is not None:
        registry.register(InstancesCollector(sources.instances()))
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
