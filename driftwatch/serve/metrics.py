"""Prometheus metrics: a custom Collector that renders the latest target states at scrape time.

Nothing is mutated between scrapes, so a per-kind or per-table series disappears as soon as
its drift is fixed. Names and help come from `metric_specs.METRICS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftwatch import __version__
from driftwatch.bounds import LABEL_CHARS, clip, label_value
from driftwatch.notify_queue import NotifierStats
from driftwatch.revisions import RevisionState, RevisionStateKind
from driftwatch.serve.metric_specs import ALL_METRICS, METRICS, NOTIFICATION_METRICS, MetricSpec
from driftwatch.state import TargetState

SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in ALL_METRICS}


def _family(name: str, extra_labels: Sequence[str] = ()) -> GaugeMetricFamily | CounterMetricFamily:
    spec = SPECS[name]
    labels = [*spec.labels, *extra_labels]
    if spec.type == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), spec.help, labels=labels)
    return GaugeMetricFamily(name, spec.help, labels=labels)


def _revisions_label(revisions: tuple[str, ...] | None) -> str:
    if revisions is None:
        return "none"  # no version table
    return label_value(revisions) if revisions else "base"


def _timestamp(state: TargetState, which: str) -> float | None:
    report = state.latest if which == "latest" else state.last_good
    if report is None:
        return None
    return report.started_at.timestamp() + report.duration_seconds


class DriftCollector(Collector):
    """Renders `snapshot()` (the daemon's current target states) as metric families."""

    def __init__(
        self, snapshot: Callable[[], Sequence[TargetState]], *, drift_table_limit: int = 200
    ) -> None:
        self._snapshot = snapshot
        self._drift_table_limit = drift_table_limit

    def describe(self) -> Iterable[Metric]:
        # the families are dynamic; describing none keeps registration from calling collect()
        return []

    def collect(self) -> Iterable[Metric]:
        states = list(self._snapshot())
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            spec.name: _family(spec.name)
            for spec in METRICS
            if spec.name != "driftwatch_target_info"
        }
        label_keys = sorted({key for s in states for key in s.labels})
        families["driftwatch_target_info"] = _family("driftwatch_target_info", label_keys)
        families["driftwatch_build_info"].add_metric([__version__], 1)
        for state in states:
            self._add_target(families, state, label_keys)
        yield from families.values()

    def _add_target(
        self,
        f: dict[str, GaugeMetricFamily | CounterMetricFamily],
        state: TargetState,
        label_keys: list[str],
    ) -> None:
        t = [state.name]
        f["driftwatch_target_info"].add_metric(
            [state.name, state.dialect, *(state.labels.get(k, "") for k in label_keys)], 1
        )
        f["driftwatch_checks_total"].add_metric(t, state.checks)
        f["driftwatch_check_errors_total"].add_metric(t, state.errors)
        f["driftwatch_full_checks_total"].add_metric(t, state.full_checks)
        latest = state.latest
        if latest is None:
            return
        f["driftwatch_check_success"].add_metric(t, 1 if latest.succeeded else 0)
        f["driftwatch_check_duration_seconds"].add_metric(t, latest.duration_seconds)
        f["driftwatch_last_check_timestamp_seconds"].add_metric(t, _timestamp(state, "latest") or 0)
        good = state.last_good
        if good is None:
            return
        f["driftwatch_last_success_timestamp_seconds"].add_metric(t, _timestamp(state, "good") or 0)
        if good.revision is not None:
            self._add_revision(f, t, good.revision)
        schema = good.schema
        if schema is not None and schema.compared:
            if schema.compared_at is not None:
                f["driftwatch_last_full_check_timestamp_seconds"].add_metric(
                    t, schema.compared_at.timestamp()
                )
            f["driftwatch_schema_in_sync"].add_metric(t, 1 if schema.in_sync else 0)
            by_kind = Counter((x.kind.value, x.attribution.value) for x in schema.findings)
            for (kind, attribution), count in sorted(by_kind.items()):
                f["driftwatch_schema_drift_objects"].add_metric([*t, kind, attribution], count)
            f["driftwatch_schema_drift_accepted_objects"].add_metric(t, len(schema.accepted))
            per_table = Counter(
                (x.schema or "", x.table, x.kind.value, x.attribution.value)
                for x in schema.findings
            )
            shown = sorted(per_table.items())[: self._drift_table_limit]
            for (schema_name, table, kind, attribution), count in shown:
                names = [clip(schema_name, LABEL_CHARS), clip(table, LABEL_CHARS)]
                f["driftwatch_schema_drift_table"].add_metric(
                    [*t, *names, kind, attribution], count
                )
            f["driftwatch_schema_drift_tables_omitted"].add_metric(t, len(per_table) - len(shown))

    @staticmethod
    def _add_revision(
        f: dict[str, GaugeMetricFamily | CounterMetricFamily], t: list[str], rev: RevisionState
    ) -> None:
        f["driftwatch_revision_at_head"].add_metric(t, 1 if rev.in_sync else 0)
        f["driftwatch_migrations_pending"].add_metric(t, len(rev.pending))
        unknown = 1 if rev.kind is RevisionStateKind.UNKNOWN_REVISION else 0
        f["driftwatch_revision_unknown"].add_metric(t, unknown)
        f["driftwatch_script_heads"].add_metric(t, len(rev.script_heads))
        for kind in RevisionStateKind:
            f["driftwatch_revision_state"].add_metric(
                [*t, kind.value], 1 if kind is rev.kind else 0
            )
        f["driftwatch_revision_info"].add_metric(
            [*t, _revisions_label(rev.database_heads), _revisions_label(rev.script_heads)], 1
        )


class NotificationCollector(Collector):
    """Renders `snapshot()` (each notifier's counters and queue) as metric families."""

    def __init__(self, snapshot: Callable[[], Sequence[NotifierStats]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        families = {spec.name: _family(spec.name) for spec in NOTIFICATION_METRICS}
        for stats in self._snapshot():
            n = [stats.name]
            families["driftwatch_notifications_sent_total"].add_metric(n, stats.sent)
            families["driftwatch_notifications_failed_total"].add_metric(n, stats.failed)
            families["driftwatch_notifications_dropped_total"].add_metric(n, stats.dropped)
            families["driftwatch_notifications_errors_total"].add_metric(n, stats.errors)
            families["driftwatch_notifications_queue_length"].add_metric(n, stats.queued)
            families["driftwatch_notifications_queue_capacity"].add_metric(n, stats.capacity)
        yield from families.values()
