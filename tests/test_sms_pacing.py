"""sms/pacing.py on a fake clock: what an SMSC counting parts per second would see."""

from __future__ import annotations

import bisect
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.pacing import BETA, Pacer

pytestmark = pytest.mark.no_store


def most_in_any_second(times: list[float]) -> int:
    """The largest number of sends in any closed one-second window [t, t + 1]."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0
    )


def drive(pacer: Pacer, ticks: list[float], wanted: list[int]) -> list[float]:
    """A loop that wakes at each tick (seconds after the last) wanting some parts sent."""
    now, sent = 0.0, []
    for step, want in zip(ticks, wanted, strict=True):
        now += step
        n = min(want, pacer.available(now))
        pacer.sent(now, n)
        sent += [now] * n
    return sent


@settings(max_examples=300, deadline=None)
@given(
    tps=st.integers(1, 300),
    ticks=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=400),
    data=st.data(),
)
def test_no_sliding_second_holds_more_than_tps(
    tps: int, ticks: list[float], data: st.DataObject
) -> None:
    wanted = data.draw(st.lists(st.integers(0, 500), min_size=len(ticks), max_size=len(ticks)))
    sent = drive(Pacer(float(tps), 0.0), ticks, wanted)
    assert most_in_any_second(sent) <= tps


@settings(max_examples=100, deadline=None)
@given(tps=st.integers(1, 300), lateness=st.lists(st.floats(0.0, 0.02), min_size=50, max_size=300))
def test_a_loop_that_wakes_when_told_sends_at_the_limit(tps: int, lateness: list[float]) -> None:
    """Always busy, waking when wait_s() says (up to 20 ms late): >= 99 % of tps."""
    pacer, now, sent = Pacer(float(tps), 0.0), 0.0, []
    for late in lateness * 20:
        n = pacer.available(now)
        pacer.sent(now, n)
        sent += [now] * n
        now += pacer.wait_s(now) + (late if n == 0 else 0.0)
        if now > 30.0:
            break
    assert most_in_any_second(sent) <= tps
    span = sent[-1] - sent[0]
    if span >= 5.0:
        assert len(sent) / (span + 0.02) >= 0.99 * tps  # the last wake-up may be late


def test_parts_are_spaced_not_burst() -> None:
    """After an idle spell the first second is not spent in its first instant."""
    pacer = Pacer(50.0, 0.0)
    assert pacer.available(10.0) == 1
    pacer.sent(10.0)
    assert pacer.available(10.0) == 0
    assert abs(pacer.wait_s(10.0) - 1.005 / 50) < 1e-9


def test_throttle_lowers_to_what_the_smsc_took_then_probes_back_up() -> None:
    pacer = Pacer(50.0, 0.0)
    now = 0.0
    for _ in range(30):  # 30 accepted in the last 0.6 s
        now += 0.02
        pacer.sent(now)
        pacer.accepted(now, now)
    pacer.throttled(now + 0.02, now + 0.021)  # the 31st refused: the SMSC allows 30/s
    assert pacer.rate == 30.0
    assert pacer.decreases == 1
    # A refusal of a part sent before the decrease is not counted twice.
    pacer.throttled(now + 0.02, now + 0.03)
    assert pacer.rate == 30.0
    # Clean seconds at full rate: the rate climbs back, one step at a time, to tps.
    t = now + 0.03
    rates = []
    while t < now + 20.0:
        n = pacer.available(t)
        pacer.sent(t, n)
        for _ in range(n):
            pacer.accepted(t, t)
        rates.append(pacer.rate)
        t += 0.005
    assert rates[0] == 30.0
    assert sorted(rates) == rates  # up only, never down without a throttle
    assert rates[-1] == 50.0
    assert pacer.increases >= 4


def test_throttle_with_nothing_accepted_backs_off_by_beta() -> None:
    pacer = Pacer(100.0, 0.0)
    pacer.sent(0.0)
    pacer.throttled(0.0, 0.001)
    assert pacer.rate == 100.0 * BETA


def test_a_refusal_after_a_full_window_was_taken_is_jitter() -> None:
    pacer = Pacer(50.0, 0.0)
    for i in range(50):
        pacer.sent(i * 1.005 / 50)
        pacer.accepted(i * 1.005 / 50, i * 1.005 / 50)
    pacer.throttled(1.005, 1.006)  # the SMSC's clock saw 51 in its second
    assert (pacer.rate, pacer.decreases) == (50.0, 0)


def test_not_adaptive_keeps_the_rate() -> None:
    pacer = Pacer(100.0, 0.0, adaptive=False)
    pacer.sent(0.0)
    pacer.throttled(0.0, 0.001)
    assert pacer.rate == 100.0


def simulate(pacer: Pacer, smsc_limit: int, seconds: float) -> tuple[list[float], int]:
    """An always-busy link against an SMSC accepting `smsc_limit` in any sliding second
    (answers are instant); the accepted send times and the count of refusals."""
    window: deque[float] = deque()
    accepted: list[float] = []
    refused, now = 0, 0.0
    while now < seconds:
        for _ in range(pacer.available(now)):
            pacer.sent(now)
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= smsc_limit:
                refused += 1
                pacer.throttled(now, now)
            else:
                window.append(now)
                accepted.append(now)
                pacer.accepted(now, now)
        now += max(pacer.wait_s(now), 0.001)
    return accepted, refused


def test_a_steady_stricter_smsc_costs_a_few_refusals_a_minute() -> None:
    accepted, refused = simulate(Pacer(50.0, 0.0), smsc_limit=30, seconds=60.0)
    assert refused <= 10  # the first lesson, then probes ever further apart
    last_half = [t for t in accepted if t >= 30.0]
    assert len(last_half) >= 0.97 * 30 * 30


def test_at_the_smscs_limit_no_refusal_at_all() -> None:
    accepted, refused = simulate(Pacer(50.0, 0.0), smsc_limit=50, seconds=30.0)
    assert refused == 0
    assert len(accepted) >= 0.99 * 50 * 30
