"""The daemon's check decides between a cheap tick and a full comparison by the staggered
due time of the last comparison (`driftwatch.stagger`), on a real SQLite database."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.report import CheckKind, TargetReport
from driftwatch.stagger import full_comparison_due_at
from tests.support.scenarios import migrate, shop_target

MAX_AGE = 3600.0


def tick(url: URL, name: str, previous: TargetReport | None) -> TargetReport:
    report = asyncio.run(
        check_target(shop_target(url, name=name), previous=previous, max_age_seconds=MAX_AGE)
    )
    assert report.error is None, report.error
    return report


def compared_at(report: TargetReport, when: datetime) -> TargetReport:
    """`report` as if its comparison had run at `when`."""
    assert report.schema is not None
    return replace(report, schema=replace(report.schema, compared_at=when))


def test_a_comparison_stands_until_its_staggered_due_time(sqlite_url: URL) -> None:
    """Nothing moved: a fresh comparison stands (a probe); one past its due time is redone
    although it is only half the max age old; one older than the max age always is."""
    now = datetime.now(UTC)
    half = now - timedelta(seconds=MAX_AGE / 2)
    # a target whose grid time came between half a max age ago and a minute ago (the real
    # clock runs on; about half of all names do)
    name = next(
        name
        for name in (f"shop-{i}" for i in range(200))
        if full_comparison_due_at(name, half, MAX_AGE) < now - timedelta(minutes=1)
    )
    migrate(sqlite_url, "head")
    first = tick(sqlite_url, name, None)
    assert first.check_kind is CheckKind.FULL

    assert tick(sqlite_url, name, first).check_kind is CheckKind.PROBE
    assert tick(sqlite_url, name, compared_at(first, half)).check_kind is CheckKind.FULL
    old = now - timedelta(seconds=MAX_AGE + 1)
    assert tick(sqlite_url, name, compared_at(first, old)).check_kind is CheckKind.FULL
    recent = now - timedelta(seconds=MAX_AGE * 0.05)
    assert tick(sqlite_url, name, compared_at(first, recent)).check_kind is CheckKind.PROBE
