"""kernel/heap.py: the start-up heap leaves the collector's passes; garbage made
afterwards is still collected."""

from __future__ import annotations

import gc
import weakref

from kernel.heap import freeze_startup


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_start_up_objects_are_frozen_and_new_cycles_still_collected() -> None:
    kept = [Node() for _ in range(100)]
    try:
        freeze_startup()
        assert gc.get_freeze_count() >= len(kept)
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
