"""Keep the garbage collector's passes short and rare in a long-running gateway process.

CPython's full collection (generation 2) walks every tracked object with the GIL
held: the whole process stops, the event loop with it. A started gateway tracks
about 70,000 objects (modules, settings, catalogs, the console's routes), and one
full pass over them took 17-46 ms of CPU on the 2-CPU development VM (wall time up to
a quarter second on a loaded one; bench/gc_bench.py): a call waiting for its next AGI
command meanwhile hears silence.
Those objects live as long as the process; walking them again and again finds
nothing. gc.freeze() moves them to a permanent generation that collections skip
(https://docs.python.org/3/library/gc.html#gc.freeze), so a full pass costs only
what was made since. Reference counting still frees frozen objects as usual; only
a cycle among them would stay (start-up state does not die in cycles).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)

# gc.set_threshold for a serving gateway; CPython's own are (700, 10, 10). With those, under
# 1,000 calls in flight (bench/mixed_bench.py) a young pass came every ~18 ms, so whatever
# lives through one prompt (its future, timer, coroutine frames: ~0.5 s) was promoted to
# the oldest generation within ~0.2 s, and the 25 % growth rule then started a full pass
# every ~2 s: 58 in 130 s, walking ~58,000 live objects for 21 ms (max 38 ms) each with
# the GIL held, dead air on every call. With these, a prompt's objects die young (about
# 50 young passes and one middle pass in the same run, no full pass), and a young pass
# walks at most ~7,000 new objects (a few ms). Cyclic garbage is still collected: young
# cycles at the next young pass, older ones at a full pass, which now comes after 100
# middle passes (the 25 % rule still holds it back while the heap is steady).
SERVING_THRESHOLDS = (7_000, 20, 100)


def freeze_startup() -> None:
    """Freeze everything tracked now. No gc.collect() first: that full pass is the very
    stall this avoids (143 ms in the mixed bench, with calls coming in); start-up's few
    cycles of garbage stay frozen, a one-time cost of some kilobytes."""
    started = time.perf_counter()
    gc.freeze()
    log.info(
        "start-up heap frozen: %d objects out of the collector's passes (%.0f ms)",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )


@contextlib.contextmanager
def paced_for_serving() -> Iterator[None]:
    """The collector at SERVING_THRESHOLDS while a gateway serves; the process's own
    thresholds again afterwards (a gateway run inside another program, e.g. the tests)."""
    before = gc.get_threshold()
    gc.set_threshold(*SERVING_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def release_transport(transport: asyncio.BaseTransport | None) -> None:
    """Break the reference cycle a closed socket transport keeps on Python 3.11: its
    cached read callback is a bound method of itself (CPython gh-100348, fixed in 3.12),
    so every FastAGI connection would be garbage only a full pass frees, and full passes
    are rare at SERVING_THRESHOLDS. Call it from the protocol's connection_lost: the
    transport has left the selector by then and reads nothing more."""
    if sys.version_info < (3, 12) and transport is not None and transport.is_closing():
        if getattr(transport, "_read_ready_cb", None) is not None:
            transport._read_ready_cb = None  # type: ignore[attr-defined]
