"""Daemon state transitions and the metrics collector, on hand-built reports (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from driftwatch.compare.baseline import Baseline, BaselineEntry
from driftwatch.findings import Finding, FindingKind
from driftwatch.notify.conditions import target_changes
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from driftwatch.serve.metric_specs import METRICS
from driftwatch.serve.metrics import DriftCollector

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def revision(
    kind: RevisionStateKind = RevisionStateKind.AT_HEAD, pending: int = 0
) -> RevisionState:
    return RevisionState(
        kind=kind,
        database_heads=("a1",),
        script_heads=("c3",) if pending else ("a1",),
        pending=tuple(PendingRevision(revision=f"r{i}", message="m") for i in range(pending)),
        unknown=("zz",) if kind is RevisionStateKind.UNKNOWN_REVISION else (),
    )


def finding(table: str, kind: FindingKind = FindingKind.EXTRA_INDEX, name: str = "ix") -> Finding:
    return Finding(
        kind=kind, schema="public", table=table, name=name, expected=None, actual="x", message="m"
    )


def report(
    *findings: Finding,
    rev: RevisionState | None = None,
    error: str | None = None,
    at: datetime = T0,
    kind: CheckKind = CheckKind.FULL,
) -> TargetReport:
    if error is not None:
        return TargetReport(
            target="t", url="u", dialect="postgresql", started_at=at, duration_seconds=0.5,
            error=error,
        )  # fmt: skip
    return TargetReport(
        target="t",
        url="u",
        dialect="postgresql",
        started_at=at,
        duration_seconds=0.5,
        check_kind=kind,
        revision=rev or revision(),
        schema=SchemaResult(compared=True, findings=tuple(findings), compared_at=at),
    )


def fresh() -> TargetState:
    return TargetState(name="t", dialect="postgresql", labels={"team": "db"})


def events(before: TargetState, after: TargetState) -> list[str]:
    """The `event` values of the log lines the daemon writes for this check."""
    return [change.word for change in target_changes(before, after)]


def test_counters_and_last_good_knowledge_survive_a_failure() -> None:
    """A failed check counts an error and keeps the last successful report."""
    good = report(finding("a"))
    state = fresh().after(good).after(report(error="down"))
    assert (state.checks, state.errors, state.full_checks) == (2, 1, 1)
    assert state.last_good is good
    assert state.latest is not None
    assert state.latest.error == "down"


def test_events_fire_once_per_change() -> None:
    """Drift, revision and failure changes are events; an unchanged tick is none."""
    start = fresh().after(report())
    assert events(fresh(), start) == ["in_sync"]
    drifted = start.after(report(finding("a")))
    assert events(start, drifted) == ["drift_appeared"]
    again = drifted.after(report(finding("a"), kind=CheckKind.PROBE))
    assert events(drifted, again) == []
    more = again.after(report(finding("a"), finding("b")))
    assert events(again, more) == ["drift_changed"]
    failing = more.after(report(error="down"))
    assert events(more, failing) == ["check_failing"]
    still = failing.after(report(error="down"))
    assert events(failing, still) == []
    back = still.after(report(rev=revision(RevisionStateKind.BEHIND, pending=2)))
    assert events(still, back) == ["recovered", "behind", "drift_gone"]


def scrape(*states: TargetState, limit: int = 200) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(lambda: list(states), drift_table_limit=limit))
    return registry


def test_collector_exports_revision_and_drift() -> None:
    """Gauges follow the latest good report; per-kind series exist only for present kinds."""
    rev = revision(RevisionStateKind.BEHIND, pending=2)
    state = fresh().after(report(finding("a"), finding("b", FindingKind.MISSING_COLUMN), rev=rev))
    r = scrape(state)
    t = {"target": "t"}
    assert r.get_sample_value("driftwatch_check_success", t) == 1
    assert r.get_sample_value("driftwatch_migrations_pending", t) == 2
    assert r.get_sample_value("driftwatch_revision_at_head", t) == 0
    assert r.get_sample_value("driftwatch_revision_state", {**t, "state": "behind"}) == 1
    assert r.get_sample_value("driftwatch_revision_state", {**t, "state": "at_head"}) == 0
    assert (
        r.get_sample_value(
            "driftwatch_revision_info", {**t, "database_revision": "a1", "head_revision": "c3"}
        )
        == 1
    )
    assert r.get_sample_value("driftwatch_schema_in_sync", t) == 0
    assert (
        r.get_sample_value(
            "driftwatch_schema_drift_objects",
            {**t, "kind": "extra_index", "attribution": "unattributed"},
        )
        == 1
    )
    assert (
        r.get_sample_value(
            "driftwatch_schema_drift_objects",
            {**t, "kind": "type_mismatch", "attribution": "unattributed"},
        )
        is None
    )
    assert r.get_sample_value("driftwatch_checks_total", t) == 1
    assert (
        r.get_sample_value("driftwatch_target_info", {**t, "dialect": "postgresql", "team": "db"})
        == 1
    )


def test_fixed_drift_series_disappear() -> None:
    """Once the drift is gone, its per-kind and per-table series are gone too."""
    drifted = fresh().after(report(finding("a")))
    fixed = drifted.after(report(at=T0 + timedelta(minutes=1)))
    r = scrape(fixed)
    labels = {
        "target": "t",
        "schema": "public",
        "table": "a",
        "kind": "extra_index",
        "attribution": "unattributed",
    }
    assert scrape(drifted).get_sample_value("driftwatch_schema_drift_table", labels) == 1
    assert r.get_sample_value("driftwatch_schema_drift_table", labels) is None
    assert (
        r.get_sample_value(
            "driftwatch_schema_drift_objects",
            {"target": "t", "kind": "extra_index", "attribution": "unattributed"},
        )
        is None
    )
    assert r.get_sample_value("driftwatch_schema_in_sync", {"target": "t"}) == 1


def test_accepted_findings_are_counted_apart_from_drift() -> None:
    """What the baseline accepts is in driftwatch_schema_drift_accepted_objects only: the
    schema is in sync and no per-kind or per-table drift series names it."""
    accept = BaselineEntry(kind=FindingKind.EXTRA_INDEX, table="a", name="ix", reason="DBA")
    good = report(finding("a"), finding("b", FindingKind.MISSING_COLUMN))
    assert good.schema is not None
    state = fresh().after(replace(good, schema=good.schema.under(Baseline(entries=(accept,)))))
    r = scrape(state)
    t = {"target": "t"}
    assert r.get_sample_value("driftwatch_schema_drift_accepted_objects", t) == 1
    assert r.get_sample_value("driftwatch_schema_in_sync", t) == 0
    assert (
        r.get_sample_value(
            "driftwatch_schema_drift_objects",
            {**t, "kind": "extra_index", "attribution": "unattributed"},
        )
        is None
    )
    tables = {
        s.labels["table"]
        for m in r.collect()
        for s in m.samples
        if m.name == "driftwatch_schema_drift_table"
    }
    assert tables == {"b"}
    assert (
        scrape(fresh().after(report())).get_sample_value(
            "driftwatch_schema_drift_accepted_objects", t
        )
        == 0
    )


def test_per_table_series_are_capped_and_the_rest_counted() -> None:
    """More drifted tables than the cap: the cap is exported and the remainder counted."""
    state = fresh().after(report(*(finding(f"t{i:02}") for i in range(10))))
    r = scrape(state, limit=3)
    shown = [s for m in r.collect() if m.name == "driftwatch_schema_drift_table" for s in m.samples]
    assert len(shown) == 3
    assert r.get_sample_value("driftwatch_schema_drift_tables_omitted", {"target": "t"}) == 7


def test_failing_target_keeps_knowledge_and_says_how_old() -> None:
    """While failing, success is 0 and the last good revision and its timestamp stay."""
    state = fresh().after(report(at=T0)).after(report(error="x", at=T0 + timedelta(minutes=5)))
    r = scrape(state)
    t = {"target": "t"}
    assert r.get_sample_value("driftwatch_check_success", t) == 0
    assert r.get_sample_value("driftwatch_revision_at_head", t) == 1
    assert (
        r.get_sample_value("driftwatch_last_success_timestamp_seconds", t) == T0.timestamp() + 0.5
    )
    assert r.get_sample_value("driftwatch_check_errors_total", t) == 1


def test_a_target_never_checked_has_only_its_counters() -> None:
    """Before the first check there is no success or revision series to mislead a dashboard."""
    r = scrape(fresh())
    assert r.get_sample_value("driftwatch_checks_total", {"target": "t"}) == 0
    assert r.get_sample_value("driftwatch_check_success", {"target": "t"}) is None
    assert r.get_sample_value("driftwatch_revision_at_head", {"target": "t"}) is None


def test_a_schema_never_compared_claims_no_sync() -> None:
    """A target checked without its schema compared (no models) has its revision series but
    no schema_in_sync: 1 would claim a comparison that never ran."""
    uncompared = replace(
        report(), schema=SchemaResult(compared=False, skipped_reason="no models configured")
    )
    r = scrape(fresh().after(uncompared))
    t = {"target": "t"}
    assert r.get_sample_value("driftwatch_revision_at_head", t) == 1
    assert r.get_sample_value("driftwatch_schema_in_sync", t) is None
    assert r.get_sample_value("driftwatch_last_full_check_timestamp_seconds", t) is None


def test_the_collector_renders_exactly_the_spec_table() -> None:
    """Every family of a full scrape is a spec of METRICS, in its order, type, labels and help,
    and every spec is rendered: the table is the only list of what /metrics exposes."""
    state = fresh().after(report(finding("a"), rev=revision(RevisionStateKind.BEHIND, pending=1)))
    families = list(scrape(state).collect())
    assert [f.name for f in families] == [s.name.removesuffix("_total") for s in METRICS]
    for family, spec in zip(families, METRICS, strict=True):
        assert (family.type, family.documentation) == (spec.type, spec.help)
        extra = ("team",) if spec.name == "driftwatch_target_info" else ()
        assert {tuple(sample.labels) for sample in family.samples} == {(*spec.labels, *extra)}
