"""The daemon's full comparisons that nothing asked for, staggered across a fleet: simulated
with the real decision function over a clock the tests move (no sleeping)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from driftwatch.config.settings import MAX_SECONDS
from driftwatch.stagger import (
    MAX_AGE_MIN_GAP,
    full_comparison_due,
    full_comparison_due_at,
    phase,
)

MAX_AGE = 3600.0
TICK = 60.0
FLEET = [f"orders-{i:03d}" for i in range(500)]
START = datetime(2026, 3, 1, 9, 17, 23, tzinfo=UTC)
EPSILON = timedelta(milliseconds=1)  # float rounding of epoch seconds


def simulate(
    names: Iterable[str], *, periods: int, changed_at: Iterable[int] = ()
) -> dict[str, list[tuple[datetime, bool]]]:
    """Each target compared on the first tick, then ticked every TICK seconds: compared
    again when due, and on the ticks of `changed_at` (tick numbers) because everything
    changed. Returns each target's comparisons as (time, caused by age)."""
    changes = set(changed_at)
    ticks = int(periods * MAX_AGE / TICK)
    history: dict[str, list[tuple[datetime, bool]]] = {}
    for name in names:
        last = START
        done = [(START, False)]
        for tick in range(1, ticks + 1):
            now = START + timedelta(seconds=tick * TICK)
            if tick in changes:
                done.append((now, False))
                last = now
            elif full_comparison_due(name, last, now, MAX_AGE):
                done.append((now, True))
                last = now
        history[name] = done
    return history


def busiest_window(times: list[datetime], window: float) -> int:
    """The most comparisons in any window of `window` seconds (sliding, from each one)."""
    times = sorted(times)
    most, first = 0, 0
    for last, end in enumerate(times):
        while (end - times[first]).total_seconds() >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_a_fleet_started_together_ages_out_spread_over_the_period() -> None:
    """500 targets compared at the same start never age out at once: no tenth of the max
    age holds more than twice a tenth of the fleet, on the first age-out or the later ones."""
    history = simulate(FLEET, periods=4)
    by_age = [t for done in history.values() for t, aged in done if aged]

    share = len(FLEET) / 10
    assert busiest_window(by_age, MAX_AGE / 10) <= 2 * share
    # every target aged out at least three times in four periods: the spread is not bought
    # by comparing less
    assert all(sum(aged for _, aged in done) >= 3 for done in history.values())


def test_a_change_everywhere_at_once_does_not_resynchronise_the_fleet() -> None:
    """After every target was compared on the same tick because all of them changed (a deploy
    migrating the fleet), the age-outs that follow are spread as before."""
    changed = int(1.5 * MAX_AGE / TICK)
    history = simulate(FLEET, periods=5, changed_at=[changed])
    after = START + timedelta(seconds=changed * TICK)
    by_age = [t for done in history.values() for t, aged in done if aged and t > after]

    assert busiest_window(by_age, MAX_AGE / 10) <= 2 * len(FLEET) / 10


def test_no_target_goes_longer_than_the_max_age_plus_a_tick() -> None:
    """Between two comparisons of a target there is never more than the max age and the tick
    that finds it due, nor less than the minimum gap, changes or not."""
    history = simulate(FLEET[:100], periods=5, changed_at=[37, 38, 90, 151])
    for done in history.values():
        for (before, _), (after, aged) in itertools.pairwise(done):
            gap = (after - before).total_seconds()
            assert gap <= MAX_AGE + TICK
            if aged:
                assert gap >= MAX_AGE * MAX_AGE_MIN_GAP


@pytest.mark.parametrize("seed", range(5))
def test_due_between_the_minimum_gap_and_exactly_the_max_age(seed: int) -> None:
    """Whatever the target and the time of its last comparison, the next one is due no sooner
    than the minimum gap and no later than exactly the max age."""
    rng = random.Random(seed)
    for _ in range(2000):
        name = f"db-{rng.randrange(10**6)}"
        max_age = rng.choice([60.0, 3600.0, 86400.0, 7.5])
        compared_at = START + timedelta(seconds=rng.uniform(0, 10**7))
        due = full_comparison_due_at(name, compared_at, max_age)

        assert due >= compared_at + timedelta(seconds=max_age * MAX_AGE_MIN_GAP) - EPSILON
        assert due <= compared_at + timedelta(seconds=max_age) + EPSILON
        assert not full_comparison_due(name, compared_at, due - 2 * EPSILON, max_age)
        assert full_comparison_due(name, compared_at, due + EPSILON, max_age)


def test_the_grid_does_not_move_with_the_comparisons() -> None:
    """Comparisons made at any time come due on the target's own grid (its phase in the
    period, whole periods apart), so a comparison off the grid does not shift the target."""
    period = MAX_AGE * (1 - MAX_AGE_MIN_GAP)
    offset = phase("orders-007") * period
    for seconds in range(0, 5 * int(MAX_AGE), 97):
        due = full_comparison_due_at("orders-007", START + timedelta(seconds=seconds), MAX_AGE)
        periods = (due.timestamp() - offset) / period
        assert abs(periods - round(periods)) < 1e-6


def test_phases_are_stable_and_spread() -> None:
    """A target's place in the period comes from its name alone (the same after a restart or in
    another replica), and the names of a fleet spread over the whole period."""
    assert phase("orders-001") == phase("orders-001")
    assert phase("orders-001") != phase("orders-002")
    tenths = [0] * 10
    for name in FLEET:
        assert 0 <= phase(name) < 1
        tenths[int(phase(name) * 10)] += 1
    assert max(tenths) <= 2 * len(FLEET) / 10


def test_a_comparison_from_the_future_is_redone() -> None:
    """A clock that went back makes the last comparison's age unknown: it is made again."""
    assert full_comparison_due("a", START, START - timedelta(seconds=1), MAX_AGE)
    assert not full_comparison_due("a", START, START, MAX_AGE)


@pytest.mark.parametrize("max_age", [MAX_SECONDS, 1e12, 1e300])
def test_the_longest_max_age_stays_within_its_bounds(max_age: float) -> None:
    """The longest max age the settings allow comes due within its bounds like any other;
    a longer one (a caller's "never") is due at the end of time rather than overflowing."""
    due = full_comparison_due_at("orders-007", START, max_age)
    if max_age <= MAX_SECONDS:
        assert START + timedelta(seconds=max_age * MAX_AGE_MIN_GAP) - EPSILON <= due
        assert due <= START + timedelta(seconds=max_age) + EPSILON
    assert not full_comparison_due("orders-007", START, due - timedelta(seconds=1), max_age)
    assert full_comparison_due("orders-007", START, due, max_age)


def test_a_vanishing_max_age_is_due_at_once() -> None:
    """A max age too short for the grid to be computed in floats is due at the comparison."""
    assert full_comparison_due("orders-007", START, START, 5e-324)
