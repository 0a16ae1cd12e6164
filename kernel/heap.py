"""Keep the garbage collector's full passes short in a long-running gateway process.

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

import gc
import logging
import time

log = logging.getLogger(__name__)


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
