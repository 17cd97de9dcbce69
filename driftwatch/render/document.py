"""Reports as JSON for programs: `check --format json` and the daemon's `/report`.

The layout is a public contract, versioned by JSON_SCHEMA_VERSION.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from driftwatch import __version__
from driftwatch.bounds import FINDINGS_LISTED, first
from driftwatch.compare.baseline import entry_document
from driftwatch.findings import Finding
from driftwatch.report import Category, Report, SchemaResult, TargetReport
from driftwatch.revisions import RevisionState

# 2: findings carry `attribution` and `revision`; `in_sync` means no drift (pending and
# unmigrated findings are listed but are not drift); `counts_by_attribution`. Added within 2:
# the schema's `status` ("compared" or "not_compared", why in `skipped_reason`)
JSON_SCHEMA_VERSION = 2


def timestamp(value: datetime) -> str:
    """A time as every document of driftwatch writes it: ISO 8601, UTC as `Z`."""
    return value.isoformat().replace("+00:00", "Z")


def _time(value: datetime | None) -> str | None:
    return None if value is None else timestamp(value)


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "schema": finding.schema,
        "table": finding.table,
        "name": finding.name,
        "expected": finding.expected,
        "actual": finding.actual,
        "message": finding.message,
        "attribution": finding.attribution.value,
        "revision": finding.revision,
        "fix": finding.fix,
    }


def revision_json(state: RevisionState) -> dict[str, Any]:
    # the database's rows are listed up to a bound: a version table may hold anything
    heads, heads_omitted = first(state.database_heads or ())
    unknown, unknown_omitted = first(state.unknown)
    return {
        "state": state.kind.value,
        "in_sync": state.in_sync,
        "database_heads": None if state.database_heads is None else list(heads),
        "database_heads_omitted": heads_omitted,
        "script_heads": list(state.script_heads),
        "pending": [{"revision": p.revision, "message": p.message} for p in state.pending],
        "unknown": list(unknown),
        "unknown_omitted": unknown_omitted,
    }


def schema_json(schema: SchemaResult) -> dict[str, Any]:
    # `counts` counts every finding; the lists stop at a bound and say how many they left out
    findings, findings_omitted = first(schema.findings, FINDINGS_LISTED)
    accepted, accepted_omitted = first(schema.accepted, FINDINGS_LISTED)
    return {
        "status": "compared" if schema.compared else "not_compared",
        "compared": schema.compared,
        "in_sync": schema.in_sync if schema.compared else None,
        "skipped_reason": schema.skipped_reason,
        "compared_at": _time(schema.compared_at),
        "method": schema.method,
        "notes": list(schema.notes),
        "counts": schema.counts_by_kind(),
        "counts_by_attribution": schema.counts_by_attribution(),
        "findings": [finding_json(f) for f in findings],
        "findings_omitted": findings_omitted,
        "accepted": [{**finding_json(a.finding), "reason": a.reason} for a in accepted],
        "accepted_omitted": accepted_omitted,
        "baseline_unmatched": [entry_document(e) for e in schema.baseline_unmatched],
    }


def target_json(report: TargetReport, fail_on: frozenset[Category]) -> dict[str, Any]:
    return {
        "name": report.target,
        "url": report.url,
        "dialect": report.dialect,
        "labels": dict(report.labels),
        "status": report.status(fail_on).value,
        "check_kind": None if report.check_kind is None else report.check_kind.value,
        "started_at": _time(report.started_at),
        "duration_seconds": round(report.duration_seconds, 6),
        "error": report.problem(fail_on),
        "revision": None if report.revision is None else revision_json(report.revision),
        "schema": None if report.schema is None else schema_json(report.schema),
    }


def report_json(report: Report) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "driftwatch_version": __version__,
        "generated_at": _time(report.generated_at),
        "fail_on": sorted(c.value for c in report.fail_on),
        "status": report.status().value,
        "exit_code": int(report.exit_code()),
        "targets": [target_json(t, report.fail_on) for t in report.targets],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), indent=2, sort_keys=False)
