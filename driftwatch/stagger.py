"""When the daemon's next full comparison of a target falls due, staggered across the fleet.

A full comparison that nothing asked for (the revision and the fingerprint did not move) is
due on the target's own grid of times, `MAX_AGE_PERIOD` of `max_age_seconds` apart and
shifted by a fraction of that period read from a hash of the target's name. The grids of
a fleet's targets are spread evenly over the period, so a fleet never ages out at once:
not after a start (every target compared on its first tick), and not after every target
was compared at once because they all changed (a deploy migrating them all), since each
comparison is next due on its own target's grid again.

The bound: a comparison is due at least `MAX_AGE_MIN_GAP` and at most exactly
`max_age_seconds` after the last one (it runs on the first tick from then, as before the
staggering). The price is one comparison every `MAX_AGE_PERIOD` of the max age instead of
one every max age, about 11% more. Every function here is pure: the clock is an argument.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

# a comparison is never due sooner than this share of the max age after the last one, so
# one that a change caused is not redone moments later because the grid came by
MAX_AGE_MIN_GAP = 0.1
# the grid's spacing, as a share of the max age: the first grid time at least the minimum
# gap after a comparison is then at most one max age after it
MAX_AGE_PERIOD = 1.0 - MAX_AGE_MIN_GAP
_LATEST = datetime.max.replace(tzinfo=UTC).timestamp()  # the last second a datetime holds


def phase(name: str) -> float:
    """Where in the period `name`'s grid lies, in [0, 1): the same in every process."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def full_comparison_due_at(name: str, compared_at: datetime, max_age_seconds: float) -> datetime:
    """When the comparison of target `name` made at `compared_at` should be made again, if
    nothing moved meanwhile: the first time on its grid at least the minimum gap later."""
    period = max_age_seconds * MAX_AGE_PERIOD
    earliest = compared_at.timestamp() + max_age_seconds * MAX_AGE_MIN_GAP
    offset = phase(name) * period
    # grid times are offset + k * period seconds since the epoch, for any whole k
    steps = (earliest - offset) / period
    if not math.isfinite(steps):  # a max age so short that the grid is finer than a float
        return datetime.fromtimestamp(earliest, UTC)
    due = offset + math.ceil(steps) * period
    if due >= _LATEST:  # a max age meant as "never": beyond what a datetime holds
        return datetime.max.replace(tzinfo=UTC)
    return datetime.fromtimestamp(due, UTC)


def full_comparison_due(
    name: str, compared_at: datetime, now: datetime, max_age_seconds: float
) -> bool:
    """Whether the comparison made at `compared_at` is too old to stand in at `now`. One
    made after `now` is too old as well: the clock went back, and its age is not known."""
    if now < compared_at:
        return True
    return now >= full_comparison_due_at(name, compared_at, max_age_seconds)
