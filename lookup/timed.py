"""A DossierLookup that times every call into a histogram (kernel/histogram.py).

The composition root wraps the one lookup every component shares, so voice, SMS
and the console are all measured; the console's /metrics exports the figures.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from kernel.histogram import LatencyHistogram
from lookup.port import DossierLookup

TIMED = frozenset({"by_code", "by_keypad_digits", "by_phone", "full", "full_any", "changed_since"})


class TimedLookup:
    """Forwards everything to `inner`; the look-up methods are timed by name."""

    def __init__(self, inner: DossierLookup, histogram: LatencyHistogram) -> None:
        self.inner = inner
        self.histogram = histogram

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if name not in TIMED:
            return value
        return self._timed(name, value)

    def _timed(
        self, name: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.histogram.observe(name, time.perf_counter() - start)

        return call
