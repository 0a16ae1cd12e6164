"""One caller ID's lookups per hour, across calls (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.limits import CallerLimiter

pytestmark = pytest.mark.no_store

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_a_caller_gets_its_allowance_per_sliding_hour() -> None:
    limiter = CallerLimiter(3)
    allowed = [limiter.allow("+84912345678", T0 + timedelta(minutes=m)) for m in (0, 1, 2, 3)]
    assert allowed == [True, True, True, False]
    assert not limiter.allow("+84912345678", T0 + timedelta(minutes=59))
    assert limiter.allow("+84912345678", T0 + timedelta(minutes=60))  # the first one expired


def test_callers_are_counted_apart_and_hidden_numbers_not_at_all() -> None:
    limiter = CallerLimiter(1)
    assert limiter.allow("+84912345678", T0)
    assert limiter.allow("+84987654321", T0)
    assert not limiter.allow("+84912345678", T0)
    assert all(limiter.allow(None, T0) for _ in range(10))


def test_memory_is_bounded_by_evicting_the_longest_quiet_caller() -> None:
    limiter = CallerLimiter(1, max_callers=2)
    limiter.allow("a", T0)
    limiter.allow("b", T0)
    limiter.allow("c", T0)  # "a" is forgotten
    assert limiter.allow("a", T0)
    assert not limiter.allow("c", T0)


def test_ten_thousand_callers_leave_nothing_for_the_collector_to_walk() -> None:
    # A full garbage collection stops every call while it walks what is tracked: the
    # limiter's memory of 10,000 callers must not be part of that walk.
    import gc

    limiter = CallerLimiter(10)
    for n in range(10_000):
        limiter.allow(f"+849{n:08d}", T0)
    gc.collect()
    assert not any(gc.is_tracked(times) for times in limiter._seen.values())
