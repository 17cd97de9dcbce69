"""`driftwatch check --fix-sql`: the findings' fix SQL of a report as one script. Pure.

One section per target: a header naming it and saying that driftwatch does not run this,
then for each finding a comment line saying what it is and its fix (statements ended by `;`),
or a comment saying that no SQL can be written for it. Every text of the database's that
ends up in a comment is one line (`comment_line`), so no name can become a statement.
"""

from __future__ import annotations

from collections.abc import Iterator

from driftwatch.compare.fix import comment_line
from driftwatch.report import Report, TargetReport


def fix_script(report: Report) -> str:
    """The fix SQL of every target of `report`, as one script to review and run by hand."""
    lines: list[str] = []
    for target in report.targets:
        lines.extend(_section(target))
        lines.append("")
    return "\n".join(lines)


def _section(target: TargetReport) -> Iterator[str]:
    yield comment_line(f"driftwatch fix SQL for target {target.target} ({target.dialect})")
    yield comment_line(
        "written by driftwatch check --fix-sql and never run by driftwatch: review it, "
        "then run it yourself"
    )
    problem = target.problem()
    schema = target.schema
    if problem is not None:
        yield comment_line(f"not checked: {problem}")
        return
    if schema is None or not schema.compared:
        reason = schema.skipped_reason if schema is not None else "no schema result"
        yield comment_line(f"schema not compared: {reason}")
        return
    if not schema.findings:
        yield comment_line("the schema matches: nothing to fix")
        return
    if schema.method != "snapshot":
        yield comment_line(
            f"compared through {schema.method}: fix SQL needs the snapshot comparison"
        )
    for finding in schema.findings:
        yield comment_line(f"{finding.kind.value} {finding.path}: {finding.message}")
        yield finding.fix if finding.fix is not None else comment_line("no fix SQL for this one")
