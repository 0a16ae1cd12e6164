"""kernel/heap.py: the start-up heap leaves the collector's passes; garbage made
afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections import deque

from kernel.heap import SERVING_THRESHOLDS, freeze_startup, paced_for_serving


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


def _churn(rounds: int) -> tuple[int, list[int]]:
    """A load's shape in miniature: 5,000 'calls' in flight, each replaced slowly, and a
    page of 1,000 short-lived objects now and then (a burst of rows, a wave of prompts).
    Returns (full collections, the collections by generation) it caused."""
    gc.collect()
    before = [g["collections"] for g in gc.get_stats()]
    in_flight: deque[list[int]] = deque()
    for i in range(rounds):
        in_flight.append([i])
        if len(in_flight) > 5_000:
            in_flight.popleft()
        if i % 10 == 0:
            page = [[j] for j in range(1_000)]
            del page
    after = [g["collections"] for g in gc.get_stats()]
    made = [a - b for a, b in zip(after, before, strict=True)]
    return made[2], made


def test_serving_pace_keeps_objects_of_calls_in_flight_out_of_full_collections() -> None:
    default_full, default_made = _churn(60_000)
    with paced_for_serving():
        assert gc.get_threshold() == SERVING_THRESHOLDS
        serving_full, serving_made = _churn(60_000)
    assert default_full >= 1, default_made  # CPython's thresholds: full passes over the calls
    assert serving_full == 0, serving_made
    assert serving_made[0] < default_made[0] / 10, (serving_made, default_made)


def test_serving_pace_still_frees_cycles_by_itself_and_is_undone_after() -> None:
    before = gc.get_threshold()
    with paced_for_serving():
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        kept = [[i] for i in range(SERVING_THRESHOLDS[0] + 100)]  # a young pass is due
        assert gone() is None
        del kept
    assert gc.get_threshold() == before
