"""Prometheus metrics: a custom Collector that renders the latest target states at scrape time.

Nothing is mutated between scrapes, so a per-kind or per-table series disappears as soon as
its drift is fixed. Each family is filled by its spec in `metric_specs`, the one place that
names a metric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from driftwatch import __version__
from driftwatch.bounds import LABEL_CHARS, clip, label_value
from driftwatch.notify.queue import NotifierStats
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionState, RevisionStateKind
from driftwatch.serve import metric_specs as m
from driftwatch.serve.metric_specs import METRICS, NOTIFICATION_METRICS, MetricSpec


class _Families:
    """One metric family per spec of a table, filled by spec: the collector names no metric."""

    def __init__(
        self,
        specs: Sequence[MetricSpec],
        extra_labels: Mapping[MetricSpec, Sequence[str]] | None = None,
    ) -> None:
        extra = extra_labels or {}
        self._families = {spec: _family(spec, extra.get(spec, ())) for spec in specs}

    def add(self, spec: MetricSpec, labels: Sequence[str], value: float) -> None:
        self._families[spec].add_metric(labels, value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


def _family(
    spec: MetricSpec, extra_labels: Sequence[str]
) -> GaugeMetricFamily | CounterMetricFamily:
    labels = [*spec.labels, *extra_labels]
    if spec.type == "counter":
        return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help, labels=labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=labels)


def _revisions_label(revisions: tuple[str, ...] | None) -> str:
    if revisions is None:
        return "none"  # no version table
    return label_value(revisions) if revisions else "base"


def _finished_at(report: TargetReport) -> float:
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
        # the targets' own labels, as extra labels of the one info family
        label_keys = sorted({key for s in states for key in s.labels})
        f = _Families(METRICS, {m.TARGET_INFO: label_keys})
        f.add(m.BUILD_INFO, [__version__], 1)
        for state in states:
            self._add_target(f, state, label_keys)
        yield from f

    def _add_target(self, f: _Families, state: TargetState, label_keys: list[str]) -> None:
        t = [state.name]
        f.add(
            m.TARGET_INFO,
            [state.name, state.dialect, *(state.labels.get(k, "") for k in label_keys)],
            1,
        )
        f.add(m.CHECKS, t, state.checks)
        f.add(m.CHECK_ERRORS, t, state.errors)
        f.add(m.FULL_CHECKS, t, state.full_checks)
        latest = state.latest
        if latest is None:
            return
        f.add(m.CHECK_SUCCESS, t, 1 if latest.succeeded else 0)
        f.add(m.CHECK_DURATION, t, latest.duration_seconds)
        f.add(m.LAST_CHECK_TIME, t, _finished_at(latest))
        good = state.last_good
        if good is None:
            return
        f.add(m.LAST_SUCCESS_TIME, t, _finished_at(good))
        if good.revision is not None:
            self._add_revision(f, t, good.revision)
        schema = good.schema
        if schema is not None and schema.compared:
            if schema.compared_at is not None:
                f.add(m.LAST_FULL_CHECK_TIME, t, schema.compared_at.timestamp())
            f.add(m.SCHEMA_IN_SYNC, t, 1 if schema.in_sync else 0)
            by_kind = Counter((x.kind.value, x.attribution.value) for x in schema.findings)
            for (kind, attribution), count in sorted(by_kind.items()):
                f.add(m.DRIFT_OBJECTS, [*t, kind, attribution], count)
            f.add(m.DRIFT_ACCEPTED, t, len(schema.accepted))
            per_table = Counter(
                (x.schema or "", x.table, x.kind.value, x.attribution.value)
                for x in schema.findings
            )
            shown = sorted(per_table.items())[: self._drift_table_limit]
            for (schema_name, table, kind, attribution), count in shown:
                names = [clip(schema_name, LABEL_CHARS), clip(table, LABEL_CHARS)]
                f.add(m.DRIFT_TABLE, [*t, *names, kind, attribution], count)
            f.add(m.DRIFT_TABLES_OMITTED, t, len(per_table) - len(shown))

    @staticmethod
    def _add_revision(f: _Families, t: list[str], rev: RevisionState) -> None:
        f.add(m.REVISION_AT_HEAD, t, 1 if rev.in_sync else 0)
        f.add(m.MIGRATIONS_PENDING, t, len(rev.pending))
        f.add(m.REVISION_UNKNOWN, t, 1 if rev.kind is RevisionStateKind.UNKNOWN_REVISION else 0)
        f.add(m.SCRIPT_HEADS, t, len(rev.script_heads))
        for kind in RevisionStateKind:
            f.add(m.REVISION_STATE, [*t, kind.value], 1 if kind is rev.kind else 0)
        f.add(
            m.REVISION_INFO,
            [*t, _revisions_label(rev.database_heads), _revisions_label(rev.script_heads)],
            1,
        )


class NotificationCollector(Collector):
    """Renders `snapshot()` (each notifier's counters and queue) as metric families."""

    def __init__(self, snapshot: Callable[[], Sequence[NotifierStats]]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        f = _Families(NOTIFICATION_METRICS)
        for stats in self._snapshot():
            n = [stats.name]
            f.add(m.NOTIFICATIONS_SENT, n, stats.sent)
            f.add(m.NOTIFICATIONS_FAILED, n, stats.failed)
            f.add(m.NOTIFICATIONS_DROPPED, n, stats.dropped)
            f.add(m.NOTIFICATION_ERRORS, n, stats.errors)
            f.add(m.NOTIFICATION_QUEUE_LENGTH, n, stats.queued)
            f.add(m.NOTIFICATION_QUEUE_CAPACITY, n, stats.capacity)
        yield from f
