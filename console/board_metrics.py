"""/metrics for every gateway instance sharing the database: the board's view of them.

Every instance exports the same view (any one scraped shows the whole system);
its own figures stay in console/ops.py's families. The label is `gateway`, not
`instance`, which Prometheus sets itself to the scrape target. Cardinality is
bounded: the registry keeps a row a day at most after its instance went
(console/board_registry.py), at most MAX_GATEWAYS of them are labelled, bind
names come from the configuration, and a bind's state is one of a fixed set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MAX_GATEWAYS = 32
STATUSES = ("up", "down", "stopped")
# sms/pump.py's bind states; anything else is counted as "other".
BIND_STATES = ("connecting", "up", "throttled", "down", "refused", "dead", "stopped")


class InstancesCollector(Collector):
    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame

    def collect(self) -> Iterator[Metric]:
        instances: list[dict[str, Any]] = list(self.frame.get("instances") or [])
        counts = Counter(str(i.get("status")) for i in instances)
        gateways = GaugeMetricFamily(
            "tracuu_gateways",
            "Gateway instances on the shared database, by status",
            labels=["status"],
        )
        for status in STATUSES:
            gateways.add_metric([status], counts.get(status, 0))
        yield gateways
        # This instance first, then the ones up: those are the rows worth a label.
        labelled = sorted(
            instances, key=lambda i: (not i.get("me"), i.get("status") != "up", str(i.get("id")))
        )[:MAX_GATEWAYS]
        yield from _per_gateway(labelled)
        yield from _per_bind(self.frame.get("binds") or [], {str(i["id"]) for i in labelled})


def _per_gateway(instances: list[dict[str, Any]]) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "tracuu_gateway_info",
        "A gateway instance (always 1)",
        labels=["gateway", "host", "version"],
    )
    up = GaugeMetricFamily(
        "tracuu_gateway_up", "1 while the instance's heartbeat moves", labels=["gateway"]
    )
    seen = GaugeMetricFamily(
        "tracuu_gateway_last_seen_timestamp_seconds",
        "When the instance last wrote its heartbeat (its own clock)",
        labels=["gateway"],
    )
    calls = GaugeMetricFamily(
        "tracuu_gateway_calls_in_progress",
        "Calls in the instance's IVR now",
        labels=["gateway"],
    )
    lag = GaugeMetricFamily(
        "tracuu_gateway_loop_lag_p99_seconds",
        "The instance's recent event-loop lag, 99th percentile",
        labels=["gateway"],
    )
    for row in instances:
        gateway = [str(row["id"])]
        info.add_metric([*gateway, str(row.get("host", "")), str(row.get("version", ""))], 1)
        up.add_metric(gateway, 1 if row.get("status") == "up" else 0)
        seen.add_metric(gateway, float(row.get("seen_at") or 0))
        if row.get("calls") is not None:
            calls.add_metric(gateway, float(row["calls"]))
        figures = row.get("lag")
        if isinstance(figures, dict):
            lag.add_metric(gateway, float(figures.get("p99_ms", 0)) / 1000)
    yield from (info, up, seen, calls, lag)


def _per_bind(binds: list[dict[str, Any]], gateways: set[str]) -> Iterator[Metric]:
    labels = ["gateway", "bind"]
    up = GaugeMetricFamily(
        "tracuu_gateway_bind_up", "1 while the SMSC bind is bound", labels=labels
    )
    state = GaugeMetricFamily(
        "tracuu_gateway_bind_state",
        "The SMSC bind's state (1 for the current one)",
        labels=[*labels, "state"],
    )
    tps = GaugeMetricFamily(
        "tracuu_gateway_bind_tps_limit", "Parts a second the bind may submit", labels=labels
    )
    throttled = CounterMetricFamily(
        "tracuu_gateway_bind_throttled",
        "SMSC throttling answers on the bind since its instance started",
        labels=labels,
    )
    reconnects = CounterMetricFamily(
        "tracuu_gateway_bind_reconnects",
        "Reconnects of the bind since its instance started",
        labels=labels,
    )
    for bind in binds:
        gateway = str(bind.get("instance", ""))
        if gateway not in gateways:
            continue
        key = [gateway, str(bind.get("bind", "-"))]
        current = str(bind.get("state", ""))
        up.add_metric(key, 1 if current == "up" else 0)
        for name in (*BIND_STATES, "other"):
            on = current == name or (name == "other" and current not in BIND_STATES)
            state.add_metric([*key, name], 1 if on else 0)
        tps.add_metric(key, float(bind.get("tps") or 0))
        throttled.add_metric(key, float(bind.get("throttled") or 0))
        reconnects.add_metric(key, float(bind.get("reconnects") or 0))
    yield from (up, state, tps, throttled, reconnects)
