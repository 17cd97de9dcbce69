"""`check --format markdown`: a report as GitHub-flavoured Markdown, for a pull-request
comment or a CI job summary. Pure.

A headline and one table row per target, then per target that is not in sync its revision,
its findings as a table (drift first) and the drift's fix SQL in a fenced block. Every text of
database origin is written as escaped text, never as Markdown or HTML: each ASCII punctuation
character gets CommonMark's backslash escape, line breaks become spaces, and the fix SQL's
fence is longer than any run of backticks inside it. The whole stays under GitHub's limit for
a comment; what does not fit is counted, not cut mid-line.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator

from driftwatch.bounds import clip, first, listing
from driftwatch.findings import Attribution, Finding
from driftwatch.report import Report, Status, TargetReport

MAX_CHARS = 60_000  # a GitHub comment holds 65,536 characters
FINDINGS_SHOWN = 100  # per target; the rest are counted
COMPACT_SHOWN = 20  # per target, without its fix SQL, where the full section does not fit
CELL_CHARS = 200  # one cell of database origin
ROWS_SHOWN = 100  # targets in the summary table (worst first); the rest are counted

_STATUS = {
    Status.IN_SYNC: "✅ in sync",
    Status.OUT_OF_SYNC: "❌ out of sync",
    Status.ERROR: "⚠️ could not check",
}
_WORST = [Status.ERROR, Status.OUT_OF_SYNC, Status.IN_SYNC]
_ORDER = (Attribution.DRIFT, Attribution.UNATTRIBUTED, Attribution.PENDING, Attribution.UNMIGRATED)
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")


def text(value: str, limit: int = CELL_CHARS) -> str:
    """`value` as literal Markdown text: one line, every punctuation character escaped."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(clip(value, limit).split()))


def _fenced(code: str, info: str = "sql") -> Iterator[str]:
    longest = max((len(run) for run in re.findall("`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    yield f"{fence}{info}"
    yield from code.splitlines()
    yield fence


def _revision_cell(target: TargetReport) -> str:
    revision = target.revision
    if revision is None:
        return "—"
    word = revision.kind.value.replace("_", " ")
    return f"{word}: {len(revision.pending)} pending" if revision.pending else word


def _count(target: TargetReport, attribution: Attribution) -> str:
    schema = target.schema
    if schema is None or not schema.compared:
        return "—"
    return str(schema.counts_by_attribution().get(attribution.value, 0))


def _row(target: TargetReport, status: Status) -> str:
    drift = _count(target, Attribution.DRIFT)
    unattributed = _count(target, Attribution.UNATTRIBUTED)
    if unattributed not in ("0", "—"):
        drift = str(int(drift) + int(unattributed))
    verdict = _STATUS[status]
    if status is Status.IN_SYNC and target.not_compared() is not None:
        verdict += " (revision only; schema not compared)"
    cells = [
        text(target.target),
        verdict,
        text(_revision_cell(target)),
        drift,
        _count(target, Attribution.PENDING),
        _count(target, Attribution.UNMIGRATED),
    ]
    return "| " + " | ".join(cells) + " |"


def _finding_row(finding: Finding) -> str:
    cells = [
        finding.attribution.value,
        text(finding.path),
        finding.kind.value,
        text(finding.expected or ""),
        text(finding.actual or ""),
    ]
    return "| " + " | ".join(cells) + " |"


def _target_section(
    target: TargetReport, status: Status, *, shown: int = FINDINGS_SHOWN, fixes: bool = True
) -> Iterator[str]:
    yield f"#### {text(target.target)}: {_STATUS[status]}"
    yield ""
    problem = target.problem()
    if problem is not None:
        yield text(problem, 1000)
        yield ""
    revision = target.revision
    if revision is not None and not revision.in_sync:
        database = listing(revision.database_heads or ()) or "nothing applied"
        yield (
            f"Revision: **{revision.kind.value.replace('_', ' ')}**; database "
            f"{text(database)}, head {text(listing(revision.script_heads))}"
        )
        yield ""
        pending, more = first(revision.pending)
        for item in pending:
            yield f"- pending {text(item.revision)}: {text(item.message or '')}"
        if more:
            yield f"- and {more} more pending"
        if pending:
            yield ""
    schema = target.schema
    if schema is not None and not schema.compared:
        yield f"Schema not compared: {text(schema.skipped_reason or '')}"
        yield ""
    if schema is None or not schema.findings:
        return
    ordered = sorted(schema.findings, key=lambda f: _ORDER.index(f.attribution))
    shown_findings, omitted = first(ordered, shown)
    yield "| attribution | object | kind | expected | actual |"
    yield "| --- | --- | --- | --- | --- |"
    yield from (_finding_row(f) for f in shown_findings)
    if omitted:
        yield ""
        yield f"and {omitted} more findings (see `driftwatch check --format json`)"
    sql = [f.fix for f in shown_findings if f.fix is not None] if fixes else []
    if sql:
        yield ""
        yield f"<details><summary>fix SQL for the drift ({len(sql)}), not run</summary>"
        yield ""
        yield from _fenced("\n".join(sql))
        yield ""
        yield "</details>"
    yield ""


def _rows(report: Report, statuses: list[Status]) -> list[str]:
    """The summary table's rows, worst first, at most ROWS_SHOWN of them."""
    worst_first = sorted(
        zip(report.targets, statuses, strict=True), key=lambda pair: _WORST.index(pair[1])
    )
    shown, omitted = first(worst_first, ROWS_SHOWN)
    rows = [_row(t, s) for t, s in shown]
    if omitted:
        rows.append(f"| and {omitted} more targets | | | | | |")
    return rows


def render_markdown(report: Report) -> str:
    """The report as Markdown, at most MAX_CHARS characters."""
    statuses = [t.status(report.fail_on) for t in report.targets]
    counts = {s: statuses.count(s) for s in Status}
    fail_on = ", ".join(sorted(c.value for c in report.fail_on))
    head = [
        f"### driftwatch: {_STATUS[report.status()]}",
        "",
        f"{len(report.targets)} targets: {counts[Status.IN_SYNC]} in sync, "
        f"{counts[Status.OUT_OF_SYNC]} out of sync, {counts[Status.ERROR]} could not be "
        f"checked (fail on: {html.escape(fail_on)})",
        "",
        "| target | status | revision | drift | pending | unmigrated |",
        "| --- | --- | --- | ---: | ---: | ---: |",
        *_rows(report, statuses),
        "",
    ]
    out = "\n".join(head)
    left = 0
    for target, status in zip(report.targets, statuses, strict=True):
        if status is Status.IN_SYNC and not (target.schema and target.schema.findings):
            continue
        room = MAX_CHARS - len(out) - 200  # the closing line's room
        full = "\n".join(_target_section(target, status)) + "\n"
        compact = "\n".join(_target_section(target, status, shown=COMPACT_SHOWN, fixes=False))
        fitting = [s for s in (full, compact + "\n") if len(s) < room]
        if left or not fitting:
            left += 1
            continue
        out += "\n" + fitting[0]
    if left:
        out += f"\n{left} more targets' details left out (too long for one comment)\n"
    return out
