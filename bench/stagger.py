"""How a fleet's full comparisons that nothing asked for are spread over time, before the
staggering (each target re-compared when its last comparison is max_age_seconds old) and
after (`driftwatch.stagger`, the decision `check_target` makes for the daemon).

A simulated clock, no database: N targets start together (their first checks spread over
2 s, as the daemon spreads them), each ticks every --interval seconds with the daemon's
default jitter (a random delay of up to 10% of the interval, at most 30 s), and is compared
in full on its first tick, when the rule says its comparison is too old, and on the first
tick after --change-at max ages, when every target changed at once (a deploy migrating the
whole fleet). Printed per rule: the full comparisons that age caused, the most of them in
any window of --window seconds against the even share of such a window, and the longest
and shortest time between two comparisons of one target.

    .venv/bin/python bench/stagger.py --targets 500 --max-age 3600 --interval 60
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from driftwatch.stagger import full_comparison_due

# (target, last comparison, now, max age) -> whether a full comparison is due
Rule = Callable[[str, datetime, datetime, float], bool]


def all_at_once(name: str, compared_at: datetime, now: datetime, max_age: float) -> bool:
    """The rule before the staggering: due when max_age seconds old."""
    del name
    return (now - compared_at).total_seconds() >= max_age


RULES: dict[str, Rule] = {"before (age >= max age)": all_at_once, "after": full_comparison_due}


@dataclass(frozen=True, slots=True)
class Run:
    by_age: list[float]  # seconds since the start of each comparison age caused
    longest_gap: float
    shortest_gap: float  # between two comparisons of a target, the second one caused by age


def simulate(rule: Rule, args: argparse.Namespace, seed: int) -> Run:
    rng = random.Random(seed)  # the same ticks for every rule
    start = datetime(2026, 3, 1, 9, 17, 23, tzinfo=UTC)
    end = args.periods * args.max_age
    change = args.change_at * args.max_age
    jitter = min(args.interval * 0.1, 30.0)
    by_age: list[float] = []
    longest, shortest = 0.0, float("inf")
    for i in range(args.targets):
        name = f"target-{i:05d}"
        at = rng.uniform(0, 2)
        last, changed = at, False
        while True:
            at += args.interval + rng.uniform(0, jitter)
            if at > end:
                break
            now = start + timedelta(seconds=at)
            if not changed and at >= change:
                changed = True
            elif rule(name, start + timedelta(seconds=last), now, args.max_age):
                by_age.append(at)
                shortest = min(shortest, at - last)
            else:
                continue
            longest = max(longest, at - last)
            last = at
    return Run(by_age=sorted(by_age), longest_gap=longest, shortest_gap=shortest)


def busiest(times: list[float], window: float) -> int:
    """The most of `times` (sorted) in any window of `window` seconds."""
    most, first = 0, 0
    for last, end in enumerate(times):
        while end - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--max-age", type=float, default=3600.0, help="max_age_seconds")
    parser.add_argument("--interval", type=float, default=60.0, help="interval_seconds")
    parser.add_argument("--periods", type=float, default=4.0, help="max ages simulated")
    parser.add_argument("--change-at", type=float, default=1.5, help="in max ages")
    parser.add_argument("--window", type=float, help="seconds (default: the interval)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    windows = [args.window or args.interval, args.max_age / 10]

    print(
        f"{args.targets} targets, max age {args.max_age:g} s, interval {args.interval:g} s, "
        f"{args.periods:g} max ages, every target changed at {args.change_at:g} max ages"
    )
    header = "".join(f"{f'busiest {w:g} s / share':>26}" for w in windows)
    print(f"{'rule':<26}{'by age':>8}{header}{'longest gap':>14}{'shortest':>10}")
    for label, rule in RULES.items():
        run = simulate(rule, args, args.seed)
        cells = []
        for window in windows:
            share = len(run.by_age) * window / (args.periods * args.max_age)
            most = busiest(run.by_age, window)
            ratio = most / share if share else float("nan")
            cells.append(f"{most:>9} / {share:6.1f} = {ratio:5.1f}x")
        shortest = run.shortest_gap if run.by_age else float("nan")
        print(
            f"{label:<26}{len(run.by_age):>8}{''.join(f'{c:>26}' for c in cells)}"
            f"{run.longest_gap:>12.0f} s{shortest:>8.0f} s"
        )


if __name__ == "__main__":
    main()
