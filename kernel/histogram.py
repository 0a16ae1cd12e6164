"""A latency histogram kept as plain figures, for a metrics exporter to read.

Pure bookkeeping on the event loop's thread (no lock, no I/O, no metrics library):
a component records durations, the console's /metrics turns the figures into the
Prometheus text format.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class HistogramFigures:
    count: int
    sum_s: float
    buckets: tuple[tuple[float, int], ...]  # (upper bound, observations <= it), cumulative


class LatencyHistogram:
    """Durations per label (e.g. the lookup method), in fixed buckets."""

    def __init__(self, buckets: tuple[float, ...] = BUCKETS) -> None:
        self.bounds = buckets
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, label: str, seconds: float) -> None:
        counts = self._counts.get(label)
        if counts is None:
            counts = self._counts[label] = [0] * (len(self.bounds) + 1)
            self._sums[label] = 0.0
        counts[bisect_left(self.bounds, seconds)] += 1
        self._sums[label] += seconds

    def figures(self) -> dict[str, HistogramFigures]:
        out: dict[str, HistogramFigures] = {}
        for label, counts in self._counts.items():
            running, cumulative = 0, []
            for bound, n in zip(self.bounds, counts, strict=False):
                running += n
                cumulative.append((bound, running))
            out[label] = HistogramFigures(sum(counts), self._sums[label], tuple(cumulative))
        return out
