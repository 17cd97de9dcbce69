"""Baselines on a real PostgreSQL database: out-of-band changes accepted, changed again, stale.

Each case starts from the shop scenario at head, makes a change a DBA could make by hand,
and checks it with and without a baseline, as `check` and the daemon run it.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.compare.baseline import Baseline, BaselineEntry, Exact
from driftwatch.findings import FindingKind
from driftwatch.notify.target import TargetState
from driftwatch.render.text import render_text
from driftwatch.report import CheckKind, Report, SchemaResult, TargetReport
from driftwatch.serve.metrics import DriftCollector
from tests.support.scenarios import execute, migrate, shop_target

REPORT_INDEX = BaselineEntry(
    kind=FindingKind.EXTRA_INDEX,
    schema="public",
    table="users",
    name="ix_users_created_at",
    reason="DBA index for the weekly signup report",
)


def check(
    url: URL, *entries: BaselineEntry, previous: TargetReport | None = None, kept: bool = False
) -> TargetReport:
    """One check; `kept` (or `previous`) as the daemon's, which a later tick may stand on."""
    baseline = Baseline(entries=entries) if entries else None
    report = asyncio.run(
        check_target(
            shop_target(url, baseline=baseline),
            previous=previous,
            max_age_seconds=3600 if kept or previous is not None else None,
        )
    )
    assert report.error is None, report.error
    return report


def schema_of(report: TargetReport) -> SchemaResult:
    assert report.schema is not None and report.schema.compared
    return report.schema


def test_accepted_extra_index_is_in_sync_and_still_shown(pg_url: URL) -> None:
    """An index added by hand and accepted: exit 0 (in sync), shown with its reason."""
    migrate(pg_url, "head")
    execute(pg_url, "CREATE INDEX ix_users_created_at ON users (created_at)")
    assert check(pg_url).status().value == "out_of_sync"

    report = check(pg_url, REPORT_INDEX)

    schema = schema_of(report)
    assert report.status().value == "in_sync"
    assert schema.findings == ()
    [accepted] = schema.accepted
    assert (accepted.finding.kind, accepted.finding.name) == (
        FindingKind.EXTRA_INDEX,
        "ix_users_created_at",
    )
    assert accepted.reason == "DBA index for the weekly signup report"
    assert schema.baseline_unmatched == ()
    text = render_text(Report(targets=(report,), generated_at=report.started_at))
    assert "matches the models, 1 accepted by baseline" in text
    assert "reason: DBA index for the weekly signup report" in text


def test_accepted_findings_have_their_own_metric(pg_url: URL) -> None:
    """The collector counts the accepted index in its own gauge, not as drift."""
    migrate(pg_url, "head")
    execute(
        pg_url,
        "CREATE INDEX ix_users_created_at ON users (created_at)",
        "ALTER TABLE orders ADD COLUMN legacy_code VARCHAR(8)",
    )
    state = TargetState(name="shop", dialect="postgresql").after(check(pg_url, REPORT_INDEX))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(lambda: [state]))
    t = {"target": "shop"}

    # at head, with the migrations replayed: both changes are drift, one of them accepted
    drift = {**t, "attribution": "drift"}
    assert registry.get_sample_value("driftwatch_schema_drift_accepted_objects", t) == 1
    assert registry.get_sample_value("driftwatch_schema_in_sync", t) == 0
    objects = "driftwatch_schema_drift_objects"
    assert registry.get_sample_value(objects, {**drift, "kind": "extra_column"}) == 1
    assert registry.get_sample_value(objects, {**drift, "kind": "extra_index"}) is None
    assert [
        (s.labels["kind"], s.labels["attribution"], s.value)
        for m in registry.collect()
        if m.name == objects
        for s in m.samples
    ] == [("extra_column", "drift", 1)]


def test_pinned_actual_makes_a_second_type_change_drift_again(pg_url: URL) -> None:
    """A type change accepted with its `actual` is drift again once the type changes again;
    an entry without `actual` keeps accepting it."""
    migrate(pg_url, "head")
    execute(pg_url, "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50)")
    [found] = schema_of(check(pg_url)).findings
    assert found.kind is FindingKind.TYPE_MISMATCH
    pinned = BaselineEntry(
        kind=FindingKind.TYPE_MISMATCH,
        table="users",
        name="name",
        actual=Exact(found.actual),
        reason="shortened on purpose",
    )
    loose = BaselineEntry(kind=FindingKind.TYPE_MISMATCH, table="users", name="name", reason="any")
    assert check(pg_url, pinned).status().value == "in_sync"

    execute(pg_url, "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(20)")

    report = check(pg_url, pinned)
    assert report.status().value == "out_of_sync"
    [drift] = schema_of(report).findings
    assert (drift.kind, drift.name) == (FindingKind.TYPE_MISMATCH, "name")
    assert drift.actual != found.actual
    assert schema_of(report).baseline_unmatched == (pinned,)
    assert check(pg_url, loose).status().value == "in_sync"


def test_stale_entry_is_listed_and_does_not_hide_drift(pg_url: URL) -> None:
    """An entry for an index that is gone matches nothing and is listed; other drift stays."""
    migrate(pg_url, "head")
    execute(pg_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")

    report = check(pg_url, REPORT_INDEX)

    schema = schema_of(report)
    assert [(f.kind, f.name) for f in schema.findings] == [(FindingKind.EXTRA_COLUMN, "nickname")]
    assert schema.accepted == ()
    assert schema.baseline_unmatched == (REPORT_INDEX,)
    text = render_text(Report(targets=(report,), generated_at=report.started_at))
    assert "  baseline entries that matched nothing: 1" in text


def test_table_pattern_accepts_partitions_made_later(pg_url: URL) -> None:
    """One `events_2026_*` entry accepts every such table, including one created afterwards."""
    migrate(pg_url, "head")
    execute(pg_url, "CREATE TABLE events_2026_01 (id INTEGER PRIMARY KEY)")
    partitions = BaselineEntry(
        kind=FindingKind.EXTRA_TABLE, table="events_2026_*", reason="monthly partitions"
    )
    assert check(pg_url, partitions).status().value == "in_sync"

    execute(
        pg_url,
        "CREATE TABLE events_2026_02 (id INTEGER PRIMARY KEY)",
        "CREATE TABLE events_archive (id INTEGER PRIMARY KEY)",
    )

    schema = schema_of(check(pg_url, partitions))
    assert [a.finding.table for a in schema.accepted] == ["events_2026_01", "events_2026_02"]
    assert [f.table for f in schema.findings] == ["events_archive"]


def test_probe_tick_keeps_what_the_last_comparison_accepted(pg_url: URL) -> None:
    """The daemon's cheap tick reuses the last full result, accepted findings included."""
    migrate(pg_url, "head")
    execute(pg_url, "CREATE INDEX ix_users_created_at ON users (created_at)")
    first = check(pg_url, REPORT_INDEX, kept=True)

    tick = check(pg_url, REPORT_INDEX, previous=first)

    assert tick.check_kind is CheckKind.PROBE
    assert tick.schema == first.schema
    assert tick.status().value == "in_sync"
