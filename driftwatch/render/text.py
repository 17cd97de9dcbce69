"""Reports as text for people: `check`'s default output; its words are the status page's
and the history's too (FINDING_SIDES, FINDING_GROUPS, revision_headline)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import groupby

from driftwatch.bounds import FINDINGS_LISTED, first, listing
from driftwatch.compare.baseline import BaselineEntry
from driftwatch.findings import Attribution, Finding
from driftwatch.report import DEFAULT_FAIL_ON, Category, Report, SchemaResult, Status, TargetReport
from driftwatch.revisions import RevisionState, RevisionStateKind

STATUS_WORDS = {
    Status.IN_SYNC: "IN SYNC",
    Status.OUT_OF_SYNC: "OUT OF SYNC",
    Status.ERROR: "COULD NOT CHECK",
}


def _short(revisions: tuple[str, ...] | None) -> str:
    if revisions is None:
        return "(no version table)"
    return listing(revisions) if revisions else "(base: nothing applied)"


def _revision_lines(state: RevisionState) -> Iterator[str]:
    kind = state.kind
    pending = len(state.pending)
    plural = "s" if pending != 1 else ""
    heads = len(state.script_heads)
    headline = {
        RevisionStateKind.AT_HEAD: "at head",
        RevisionStateKind.BEHIND: f"BEHIND: {pending} migration{plural} pending",
        RevisionStateKind.UNKNOWN_REVISION: "UNKNOWN REVISION: the scripts do not have "
        + listing(state.unknown),
        RevisionStateKind.NO_VERSION_TABLE: "NO VERSION TABLE: the database was never migrated",
        RevisionStateKind.MULTIPLE_SCRIPT_HEADS: f"MULTIPLE SCRIPT HEADS ({heads})"
        + (f", {pending} migration{plural} pending" if pending else ""),
        RevisionStateKind.PARTIALLY_APPLIED: "PARTIALLY APPLIED: the database is on some of "
        f"{heads} script heads, {pending} migration{plural} pending",
        RevisionStateKind.MIGRATING: "MIGRATING: a migration is running; no drift verdict "
        "until the check after it",
    }[kind]
    yield f"  revision  {headline}"
    yield f"            database {_short(state.database_heads)}; head {_short(state.script_heads)}"
    for item in state.pending:
        yield f"            pending  {item.revision}  {item.message}"


# what each side of a finding is, by attribution: (expected, actual)
FINDING_SIDES = {
    Attribution.DRIFT: ("migrations", "database"),
    Attribution.PENDING: ("at head", "now"),
    Attribution.UNMIGRATED: ("models", "migrations"),
    Attribution.UNATTRIBUTED: ("models", "database"),
}
# the report's order, drift first, and what each group means
FINDING_GROUPS = (
    (Attribution.DRIFT, "drift: the database is not what its revision's migrations produce"),
    (Attribution.UNATTRIBUTED, "differences from the models (no replay: cause not known)"),
    (Attribution.PENDING, "pending: what the migrations not yet run will change"),
    (Attribution.UNMIGRATED, "unmigrated: in the models, but no migration produces it"),
)

_SUMMARY_WORDS = {Attribution.UNATTRIBUTED: "schema difference(s)"}


def finding_details(finding: Finding) -> tuple[tuple[str, str], ...]:
    """A finding's sides, each named as its attribution names it (`migrations`/`database`
    for drift ...), then the revision that makes it: what every output shows of it."""
    expected_side, actual_side = FINDING_SIDES[finding.attribution]
    shown = (
        (expected_side, finding.expected),
        (actual_side, finding.actual),
        ("by", finding.revision),
    )
    return tuple((name, value) for name, value in shown if value is not None)


def _finding_line(finding: Finding) -> str:
    detail = [
        f"by {value}" if name == "by" else f"{name}: {value}"
        for name, value in finding_details(finding)
    ]
    name = finding.name or "(table)"
    return f"      {finding.kind.value:<20} {name:<28} {'; '.join(detail)}"


def _fix_lines(fix: str) -> Iterator[str]:
    for number, line in enumerate(fix.splitlines()):
        yield f"{'':27}{'fix: ' if number == 0 else '     '}{line}"


def _table_of(finding: Finding) -> str:
    return f"{finding.schema}.{finding.table}" if finding.schema else finding.table


def _by_table(findings: Sequence[Finding], reasons: Sequence[str | None]) -> Iterator[str]:
    """Findings under one header per table, each followed by its reason when it has one;
    at most FINDINGS_LISTED of them, then how many more there are."""
    shown, omitted = first(list(zip(findings, reasons, strict=True)), FINDINGS_LISTED)
    for table_name, group in groupby(shown, key=lambda pair: _table_of(pair[0])):
        yield f"    {table_name}"
        for finding, reason in group:
            yield _finding_line(finding)
            if finding.fix is not None:
                yield from _fix_lines(finding.fix)
            if reason is not None:
                yield f"{'':27}reason: {reason}"
    if omitted:
        yield f"    ... and {omitted} more difference{'s' if omitted != 1 else ''} (counted above)"


def _entry_line(entry: BaselineEntry) -> str:
    where = ".".join(p for p in (entry.schema or "*", entry.table, entry.name) if p is not None)
    pinned = [
        f"{side}: {'(none)' if exact.value is None else exact.value}"
        for side, exact in (("models", entry.expected), ("database", entry.actual))
        if exact is not None
    ]
    return f"      {entry.kind.value:<20} {where:<28} {'; '.join(pinned)}".rstrip()


def _schema_lines(schema: SchemaResult, kind: str | None) -> Iterator[str]:
    if not schema.compared:
        yield f"  schema    not compared: {schema.skipped_reason}"
        return
    how = "last full comparison stands" if kind == "probe" else "full comparison"
    if schema.method is not None:
        how = f"{how}, {schema.method}"
    count, accepted = len(schema.findings), len(schema.accepted)
    also = f", {accepted} accepted by baseline" if accepted else ""
    if not schema.findings:
        expected = "the snapshot file" if schema.method == "snapshot_file" else "the models"
        yield f"  schema    matches {expected}{also} ({how})"
    else:
        counts = schema.counts_by_attribution()
        split = ", ".join(
            f"{counts[a.value]} {a.value}" for a, _ in FINDING_GROUPS if a.value in counts
        )
        split = "" if set(counts) == {Attribution.UNATTRIBUTED.value} else f": {split}"
        yield f"  schema    {count} difference{'s' if count != 1 else ''}{split}{also} ({how})"
    for note in schema.notes:
        yield f"            note: {note}"
    for attribution, meaning in FINDING_GROUPS:
        group = [f for f in schema.findings if f.attribution is attribution]
        if group and attribution is not Attribution.UNATTRIBUTED:
            yield f"  {meaning}"
        if group:
            yield from _by_table(group, [None] * len(group))
    if schema.accepted:
        yield f"  accepted by baseline: {accepted}"
        yield from _by_table(
            [a.finding for a in schema.accepted], [a.reason for a in schema.accepted]
        )
    if schema.baseline_unmatched:
        yield f"  baseline entries that matched nothing: {len(schema.baseline_unmatched)}"
        for entry in schema.baseline_unmatched:
            yield _entry_line(entry)
            yield f"{'':27}reason: {entry.reason}"


def _summary(report: TargetReport, status: Status, fail_on: frozenset[Category]) -> str:
    parts = []
    if status is Status.ERROR:
        parts.append(report.problem(fail_on) or "")
    else:
        if report.revision is not None and not report.revision.in_sync:
            parts.append(report.revision.kind.value.replace("_", " "))
        if report.schema is not None and report.schema.findings and not report.migrating:
            counts = report.schema.counts_by_attribution()
            parts.extend(
                f"{counts[a.value]} {_SUMMARY_WORDS.get(a, a.value)}"
                for a, _ in FINDING_GROUPS
                if a.value in counts
            )
        if report.not_compared() is not None:
            parts.append("schema not compared")
    tail = f": {', '.join(parts)}" if parts else ""
    if parts == ["schema not compared"]:  # in sync, as far as it was checked
        tail = " (revision only; schema not compared)"
    return f"  => {STATUS_WORDS[status]}{tail}  ({report.duration_seconds:.2f} s)"


def target_text(
    report: TargetReport, status: Status, fail_on: frozenset[Category] = DEFAULT_FAIL_ON
) -> Iterator[str]:
    yield f"[{report.target}] {report.url}"
    if report.revision is not None:
        yield from _revision_lines(report.revision)
    if report.schema is not None:
        kind = None if report.check_kind is None else report.check_kind.value
        yield from _schema_lines(report.schema, kind)
    yield _summary(report, status, fail_on)


def render_text(report: Report) -> str:
    lines: list[str] = []
    statuses = [t.status(report.fail_on) for t in report.targets]
    for target, status in zip(report.targets, statuses, strict=True):
        lines.extend(target_text(target, status, report.fail_on))
        lines.append("")
    counts = {s: statuses.count(s) for s in Status}
    n = len(report.targets)
    uncompared = sum(1 for t in report.targets if t.not_compared() is not None)
    lines.append(
        f"{n} target{'s' if n != 1 else ''}: {counts[Status.IN_SYNC]} in sync, "
        f"{counts[Status.OUT_OF_SYNC]} out of sync, {counts[Status.ERROR]} could not be checked"
        + (
            f"; {uncompared} schema{'s' if uncompared != 1 else ''} not compared"
            if uncompared
            else ""
        )
    )
    return "\n".join(lines)


def revision_headline(state: RevisionState) -> str:
    """The revision state as the text report's `revision` line says it."""
    return next(_revision_lines(state)).strip().removeprefix("revision").strip()
