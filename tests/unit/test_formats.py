"""`check --format junit|markdown` from hand-built reports, read back by real parsers:
junitparser (as CI dashboards read JUnit XML) and markdown-it-py (CommonMark with GitHub's
tables, as a pull-request comment is rendered)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from junitparser import Error, Failure, JUnitXml, Skipped
from markdown_it import MarkdownIt

from driftwatch.findings import Attribution, FindingKind
from driftwatch.render.junit import render_junit
from driftwatch.render.markdown import MAX_CHARS, render_markdown
from driftwatch.report import Category, SchemaResult
from driftwatch.revisions import PendingRevision, RevisionStateKind
from tests.unit.test_render import NOW, finding, report, revision, target

HOSTILE = "<script>alert(1)</script> | `x` ]]> **bold** [link](http://evil)\x07\x1b"


def drifted() -> SchemaResult:
    return SchemaResult(
        compared=True,
        compared_at=NOW,
        method="replay",
        findings=(
            finding(
                FindingKind.EXTRA_INDEX,
                "tasks",
                "ix_tasks_name",
                actual="INDEX (name)",
                attribution=Attribution.DRIFT,
                fix="DROP INDEX ix_tasks_name;",
            ),
            finding(
                FindingKind.MISSING_COLUMN,
                "audit_log",
                "actor",
                expected="TEXT NULL",
                attribution=Attribution.PENDING,
                revision="e5a849b9850e",
            ),
            finding(
                FindingKind.MISSING_COLUMN,
                "workflows",
                "archived_at",
                expected="DATETIME NULL",
                attribution=Attribution.UNMIGRATED,
            ),
        ),
    )


def behind() -> object:
    return revision(
        RevisionStateKind.BEHIND,
        database_heads=("a1",),
        pending=(PendingRevision(revision="e5a849b9850e", message="audit actor"),),
    )


def fleet() -> object:
    return report(
        target("prod", schema=drifted(), revision=behind()),
        target("staging"),
        target("broken", revision=None, schema=None, error="target 'broken': connection refused"),
    )


def junit(rendered: str) -> dict[str, object]:
    xml = JUnitXml.fromstring(rendered)
    return {suite.name: suite for suite in xml}


def outcome(case: object) -> type | None:
    results = case.result  # type: ignore[attr-defined]
    return type(results[0]) if results else None


def test_junit_one_suite_per_target_one_case_per_finding() -> None:
    suites = junit(render_junit(fleet()))

    assert set(suites) == {"driftwatch prod", "driftwatch staging", "driftwatch broken"}
    prod = {(c.classname, c.name): c for c in suites["driftwatch prod"]}
    drift = prod[("driftwatch.prod.public.tasks", "extra_index ix_tasks_name")]
    assert outcome(drift) is Failure
    assert "DROP INDEX ix_tasks_name;" in drift.result[0].text
    assert "database: INDEX (name)" in drift.result[0].text  # the sides named as in text
    # listed, but not what fails the gate by default
    pending = prod[("driftwatch.prod.public.audit_log", "missing_column actor")]
    assert outcome(pending) is Skipped
    assert "pending" in pending.result[0].message
    assert (
        outcome(prod[("driftwatch.prod.public.workflows", "missing_column archived_at")]) is Skipped
    )
    assert outcome(prod[("driftwatch.prod", "revision")]) is Failure
    assert outcome(prod[("driftwatch.prod", "check")]) is None
    staging = {c.name: c for c in suites["driftwatch staging"]}
    assert {name: outcome(c) for name, c in staging.items()} == {
        "check": None,
        "revision": None,
        "schema": None,
    }
    broken = {c.name: c for c in suites["driftwatch broken"]}
    assert outcome(broken["check"]) is Error
    assert "connection refused" in broken["check"].result[0].message


def test_junit_counts_agree_with_the_cases() -> None:
    root = ET.fromstring(render_junit(fleet()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "2", "1")
    assert root.get("skipped") == "2"
    suites = junit(render_junit(fleet()))
    assert (suites["driftwatch prod"].tests, suites["driftwatch prod"].failures) == (5, 2)


def test_junit_fail_on_decides_failure_or_skipped() -> None:
    gate = replace(fleet(), fail_on=frozenset({Category.PENDING}))  # type: ignore[type-var]
    prod = {c.name: c for c in junit(render_junit(gate))["driftwatch prod"]}
    assert outcome(prod["missing_column actor"]) is Failure
    assert outcome(prod["extra_index ix_tasks_name"]) is Skipped
    assert outcome(prod["revision"]) is Skipped


def test_junit_holds_hostile_text_as_text() -> None:
    hostile = SchemaResult(
        compared=True,
        findings=(
            finding(
                FindingKind.EXTRA_TABLE,
                HOSTILE,
                None,
                actual=HOSTILE,
                attribution=Attribution.DRIFT,
                fix=f"DROP TABLE {HOSTILE};",
            ),
        ),
    )
    rendered = render_junit(report(target("prod", schema=hostile)))
    case = next(c for c in junit(rendered)["driftwatch prod"] if c.name.startswith("extra_table"))
    assert "<script>alert(1)</script> | `x` ]]>" in case.result[0].text
    assert "\x07" not in rendered and "\x1b" not in rendered  # XML 1.0 cannot hold them


def test_junit_schema_not_compared_is_skipped_with_its_reason() -> None:
    skipped = SchemaResult(compared=False, skipped_reason="no models configured")
    suite = junit(render_junit(report(target("prod", schema=skipped))))["driftwatch prod"]
    schema = next(c for c in suite if c.name == "schema")
    assert outcome(schema) is Skipped
    assert "no models configured" in schema.result[0].message


def test_junit_fail_on_not_compared_errs_the_check_case() -> None:
    """Under --fail-on not_compared the check case is an error saying why, as exit 2 says."""
    skipped = SchemaResult(compared=False, skipped_reason="no models configured")
    whole = replace(report(target("prod", schema=skipped)), fail_on=frozenset(Category))
    suite = junit(render_junit(whole))["driftwatch prod"]
    check = next(c for c in suite if c.name == "check")
    assert outcome(check) is Error
    assert "schema not compared: no models configured" in check.result[0].message


def test_markdown_in_sync_without_a_comparison_says_revision_only() -> None:
    """A target whose schema was not compared is never an unqualified "in sync" row."""
    skipped = SchemaResult(compared=False, skipped_reason="no models configured")
    page = html_of(render_markdown(report(target("prod", schema=skipped))))
    assert "<td>✅ in sync (revision only; schema not compared)</td>" in page


def html_of(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_summary_table_then_details_of_what_is_not_in_sync() -> None:
    rendered = render_markdown(fleet())
    page = html_of(rendered)

    assert rendered.startswith("### driftwatch: ⚠️ could not check")
    assert "3 targets: 1 in sync, 1 out of sync, 1 could not be checked" in rendered
    tokens = MarkdownIt("commonmark").enable("table").parse(rendered)
    tables = [t for t in tokens if t.type == "table_open"]
    assert len(tables) == 2  # the fleet, and prod's findings
    assert page.count("<tr>") == 1 + 3 + 1 + 3  # header + targets, header + findings
    assert "<td>prod</td>\n<td>❌ out of sync</td>\n<td>behind: 1 pending</td>" in page
    right = '<td style="text-align:right">1</td>'
    assert f"{right}\n{right}\n{right}" in page  # drift, pending, unmigrated
    assert '<code class="language-sql">DROP INDEX ix_tasks_name;' in page
    assert "#### staging" not in rendered  # in sync: the table row says it all
    assert "connection refused" in page


def test_markdown_never_lets_database_text_become_markup() -> None:
    hostile = SchemaResult(
        compared=True,
        findings=(
            finding(
                FindingKind.EXTRA_TABLE,
                HOSTILE,
                None,
                actual=HOSTILE,
                attribution=Attribution.DRIFT,
                fix="DROP TABLE x; -- ```\n```\n<script>alert(2)</script>",
            ),
        ),
    )
    page = html_of(render_markdown(report(target("prod", schema=hostile))))

    assert "<script>" not in page
    assert "<strong>" not in page and "<a " not in page  # no bold, no link made of a name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # the fix SQL stays one code block, whatever backticks it holds
    assert page.count("<pre>") == 1
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_markdown_stays_within_a_comment() -> None:
    many = SchemaResult(
        compared=True,
        findings=tuple(
            finding(
                FindingKind.EXTRA_COLUMN,
                f"t{i}",
                f"c{i}",
                actual="x" * 400,
                attribution=Attribution.DRIFT,
                fix=f"ALTER TABLE t{i} DROP COLUMN c{i}; -- {'y' * 300}",
            )
            for i in range(400)
        ),
    )
    targets = [target(f"db{i}", schema=many) for i in range(20)]
    rendered = render_markdown(report(*targets))

    assert len(rendered) <= MAX_CHARS
    assert "more targets' details left out" in rendered
    assert rendered.count("| db") == 20  # every target keeps its summary row
    html_of(rendered)  # still parses


def test_markdown_lists_the_worst_targets_first_and_counts_the_rest() -> None:
    targets = [target(f"ok{i:03}") for i in range(150)]
    targets.insert(120, target("broken", revision=None, schema=None, error="connection refused"))
    rendered = render_markdown(report(*targets))
    rows = [line for line in rendered.splitlines() if line.startswith("| ")][2:]
    assert rows[0].startswith("| broken |")  # failing first, wherever it was listed
    assert rows[-1] == "| and 51 more targets | | | | | |"
    assert len(rows) == 101
