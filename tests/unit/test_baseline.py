"""Baselines of accepted findings: matching, splitting, regenerating and the file, by hand."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from driftwatch.compare.baseline import (
    Baseline,
    BaselineEntry,
    Exact,
    apply,
    parse,
    read_baseline,
    regenerate,
    render,
    write_baseline,
)
from driftwatch.errors import ConfigError
from driftwatch.findings import Finding, FindingKind
from driftwatch.report import SchemaResult

EXTRA_INDEX = FindingKind.EXTRA_INDEX


def finding(
    kind: FindingKind = EXTRA_INDEX,
    table: str = "tasks",
    name: str | None = "ix_tasks_report",
    **fields: Any,
) -> Finding:
    values: dict[str, Any] = {"schema": "public", "expected": None, "actual": "INDEX (week)"}
    values.update(fields)
    return Finding(kind=kind, table=table, name=name, message=f"{kind.value} on {table}", **values)


def entry(
    kind: FindingKind = EXTRA_INDEX, table: str = "tasks", reason: str = "why", **fields: Any
) -> BaselineEntry:
    return BaselineEntry(kind=kind, table=table, reason=reason, **fields)


def accepts(an_entry: BaselineEntry, a_finding: Finding) -> bool:
    _, accepted, _ = apply([a_finding], Baseline(entries=(an_entry,)))
    return bool(accepted)


# --- matching -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("an_entry", "a_finding", "accepted"),
    [
        (entry(name="ix_tasks_report"), finding(), True),
        (entry(FindingKind.EXTRA_UNIQUE, name="ix_tasks_report"), finding(), False),
        (entry(name="ix_tasks_report", schema="public"), finding(), True),
        (entry(name="ix_tasks_report", schema="audit"), finding(), False),
        (entry(name="ix_tasks_report", schema="pub*"), finding(), True),
        (entry(name="ix_tasks_report"), finding(schema="audit"), True),
        (entry(name="ix_tasks_report", schema="public"), finding(schema=None), False),
        (entry(table="task", name="ix_tasks_report"), finding(), False),
        (entry(table="Tasks", name="ix_tasks_report"), finding(), False),
        (entry(name="IX_TASKS_REPORT"), finding(), False),
        (entry(name="ix_tasks_*"), finding(), True),
        (entry(name="ix_tasks_?eport"), finding(), True),
        (entry(name="ix_[tu]asks_report"), finding(), True),
    ],
    ids=[
        "exact",
        "other_kind",
        "same_schema",
        "other_schema",
        "schema_pattern",
        "no_schema_any_schema",
        "schema_given_finding_without",
        "table_is_not_a_prefix",
        "table_case_sensitive",
        "name_case_sensitive",
        "name_star",
        "name_question_mark",
        "name_brackets",
    ],
)
def test_entry_matches_kind_schema_table_and_name(
    an_entry: BaselineEntry, a_finding: Finding, accepted: bool
) -> None:
    """Kind exactly; schema, table and name as case-sensitive shell patterns."""
    assert accepts(an_entry, a_finding) is accepted


def test_table_pattern_accepts_every_partition_in_one_entry() -> None:
    """`events_2026_*` accepts each partition table, not the parent or another year."""
    partitions = [finding(FindingKind.EXTRA_TABLE, f"events_2026_{m:02}", None) for m in (1, 2)]
    others = [
        finding(FindingKind.EXTRA_TABLE, "events", None),
        finding(FindingKind.EXTRA_TABLE, "events_2025_12", None),
    ]
    baseline = Baseline(entries=(entry(FindingKind.EXTRA_TABLE, "events_2026_*"),))

    drift, accepted, unmatched = apply([*partitions, *others], baseline)

    assert [a.finding for a in accepted] == partitions
    assert list(drift) == others
    assert unmatched == ()


def test_name_absent_matches_only_table_level_findings() -> None:
    """No `name`: the table itself (extra_table, a table comment); `*`: any named object."""
    table_comment = finding(FindingKind.COMMENT_MISMATCH, name=None, actual="legacy")
    column_comment = finding(FindingKind.COMMENT_MISMATCH, name="note", actual="legacy")
    no_name = entry(FindingKind.COMMENT_MISMATCH)
    any_name = entry(FindingKind.COMMENT_MISMATCH, name="*")

    assert accepts(no_name, table_comment)
    assert not accepts(no_name, column_comment)
    assert accepts(any_name, column_comment)
    assert not accepts(any_name, table_comment)


def test_an_entry_without_actual_keeps_accepting_a_changed_object() -> None:
    """Saying nothing of `actual` accepts the object whatever it becomes."""
    loose = entry(FindingKind.TYPE_MISMATCH, "users", name="name")

    assert accepts(loose, finding(FindingKind.TYPE_MISMATCH, "users", "name", actual="TEXT"))
    assert accepts(loose, finding(FindingKind.TYPE_MISMATCH, "users", "name", actual="INTEGER"))


def test_a_pinned_actual_makes_a_changed_object_drift_again() -> None:
    """With `actual`, the same column with another live type is drift, and the entry stale."""
    pinned = entry(FindingKind.TYPE_MISMATCH, "users", name="name", actual=Exact("VARCHAR(50)"))
    was = finding(FindingKind.TYPE_MISMATCH, "users", "name", actual="VARCHAR(50)")
    now = finding(FindingKind.TYPE_MISMATCH, "users", "name", actual="VARCHAR(20)")

    assert accepts(pinned, was)
    drift, accepted, unmatched = apply([now], Baseline(entries=(pinned,)))
    assert (drift, accepted, unmatched) == ((now,), (), (pinned,))


def test_pinned_null_and_pinned_expected() -> None:
    """`actual: null` pins "no live value"; `expected` pins the models' side the same way."""
    missing = finding(FindingKind.MISSING_COLUMN, name="due", expected="DATE NULL", actual=None)

    assert accepts(entry(FindingKind.MISSING_COLUMN, name="due", actual=Exact(None)), missing)
    assert not accepts(entry(FindingKind.MISSING_COLUMN, name="due", actual=Exact("x")), missing)
    assert accepts(
        entry(FindingKind.MISSING_COLUMN, name="due", expected=Exact("DATE NULL")), missing
    )
    assert not accepts(
        entry(FindingKind.MISSING_COLUMN, name="due", expected=Exact("TEXT")), missing
    )


def test_first_matching_entry_gives_the_reason_and_every_matching_one_is_used() -> None:
    """Overlapping entries: the first in the file accepts; neither is reported as stale."""
    first = entry(name="ix_tasks_report", reason="the report")
    broad = entry(name="ix_*", reason="all DBA indexes")

    drift, accepted, unmatched = apply([finding()], Baseline(entries=(first, broad)))

    assert drift == ()
    assert [a.reason for a in accepted] == ["the report"]
    assert unmatched == ()


def test_unmatched_entries_in_file_order_and_no_baseline_means_all_drift() -> None:
    """Entries no finding matches are listed for pruning; without a baseline nothing is
    accepted."""
    stale = (entry(table="gone", reason="a"), entry(FindingKind.EXTRA_TABLE, "old", reason="b"))
    found = [finding(), finding(FindingKind.EXTRA_COLUMN, name="legacy")]

    assert apply(found, Baseline(entries=stale)) == (tuple(found), (), stale)
    assert apply(found, None) == (tuple(found), (), ())


def test_schema_result_judged_again_by_another_baseline() -> None:
    """`SchemaResult.under` re-splits every difference found; a result not compared stays."""
    found = (finding(FindingKind.EXTRA_COLUMN, name="legacy"), finding())  # report order
    result = SchemaResult(compared=True, findings=found, compared_at=datetime.now(UTC))
    accepting = Baseline(entries=(entry(name="ix_*"),))

    judged = result.under(accepting)

    assert judged.findings == (found[0],)
    assert [a.finding for a in judged.accepted] == [found[1]]
    assert judged.all_findings() == found
    assert judged.under(None) == result
    skipped = SchemaResult(compared=False, skipped_reason="no models")
    assert skipped.under(accepting) is skipped


# --- regenerating -------------------------------------------------------------------------


def test_regenerate_keeps_matching_entries_drops_stale_ones_and_adds_the_rest() -> None:
    """Hand-written entries that still match stay as written (pattern and reason); stale
    ones go; each difference they leave over gets an entry pinned to its live side."""
    partitions = [
        finding(FindingKind.EXTRA_TABLE, f"events_{m}", None, actual="table") for m in (1, 2)
    ]
    column = finding(FindingKind.TYPE_MISMATCH, "users", "name", expected="TEXT", actual="CHAR(3)")
    pattern = entry(FindingKind.EXTRA_TABLE, "events_*", reason="partitions")
    stale = entry(table="gone", reason="old")

    baseline = regenerate([column, *partitions], Baseline(entries=(stale, pattern)), reason="new")

    assert baseline.entries == (
        pattern,
        BaselineEntry(
            kind=FindingKind.TYPE_MISMATCH,
            schema="public",
            table="users",
            name="name",
            expected=Exact("TEXT"),
            actual=Exact("CHAR(3)"),
            reason="new",
        ),
    )
    drift, accepted, unmatched = apply([column, *partitions], baseline)
    assert (drift, unmatched, len(accepted)) == ((), (), 3)


def test_regenerate_from_nothing_and_with_nothing_found() -> None:
    """No file yet: one entry per finding, sorted as the report sorts; no findings: empty."""
    found = [finding(table="b"), finding(table="a"), finding(table="a")]

    baseline = regenerate(found, None, reason="r")

    assert [e.table for e in baseline.entries] == ["a", "b"]
    assert regenerate([], Baseline(entries=(entry(),)), reason="r") == Baseline()


def test_generated_entries_match_names_with_pattern_characters_literally() -> None:
    """A table named `stats[2026]*` gets an entry for itself, not for `stats2` or `stats6`."""
    odd = finding(FindingKind.EXTRA_TABLE, "stats[2026]*", None, schema="we?rd")
    lookalike = finding(FindingKind.EXTRA_TABLE, "stats2", None, schema="weird")

    baseline = regenerate([odd], None, reason="r")

    assert baseline.entries[0].table == "stats[[]2026][*]"
    assert apply([odd, lookalike], baseline) == ((lookalike,), apply([odd], baseline)[1], ())


# --- the file ---------------------------------------------------------------------------------

EXAMPLE = {
    "version": 1,
    "accepted": [
        {
            "kind": "extra_index",
            "table": "tasks",
            "name": "ix_tasks_report",
            "schema": "public",
            "reason": "DBA index for the weekly report",
        },
        {"kind": "extra_table", "table": "events_2026_*", "reason": "partitions"},
        {
            "kind": "type_mismatch",
            "table": "users",
            "name": "name",
            "expected": "VARCHAR(100)",
            "actual": None,
            "reason": "r",
        },
    ],
}


def test_parse_reads_every_key() -> None:
    """Absent keys say nothing; `actual: null` pins no value; patterns are kept as text."""
    report_index, partitions, column = parse(EXAMPLE, origin="b.json").entries

    assert report_index == BaselineEntry(
        kind=EXTRA_INDEX,
        schema="public",
        table="tasks",
        name="ix_tasks_report",
        reason="DBA index for the weekly report",
    )
    assert (partitions.schema, partitions.table, partitions.name) == (None, "events_2026_*", None)
    assert (column.expected, column.actual) == (Exact("VARCHAR(100)"), Exact(None))


def test_render_and_parse_round_trip() -> None:
    """What `render` writes, `parse` reads back to the same baseline."""
    baseline = parse(EXAMPLE, origin="b.json")

    assert parse(json.loads(render(baseline)), origin="again") == baseline
    assert render(Baseline()) == '{\n  "version": 1,\n  "accepted": []\n}\n'


def bad_entry(**changes: Any) -> dict[str, Any]:
    good = {"kind": "extra_index", "table": "tasks", "reason": "r"}
    return {"version": 1, "accepted": [{k: v for k, v in {**good, **changes}.items() if v != ...}]}


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "b.json: must be a JSON object with version and accepted"),
        ({"version": 1, "accepted": [], "entries": []}, "b.json: unknown key(s) entries"),
        ({"accepted": []}, "b.json: version: must be 1"),
        ({"version": 2, "accepted": []}, "b.json: version: must be 1"),
        ({"version": 1}, "b.json: accepted: must be a list of entries"),
        ({"version": 1, "accepted": ["extra_index"]}, "b.json: accepted[0]: must be an object"),
        (bad_entry(nmae="x"), "accepted[0]: unknown key(s) nmae (known: kind, schema, table"),
        (bad_entry(kind=...), "accepted[0].kind: unknown finding kind None (one of: missing_table"),
        (bad_entry(kind="extra_idx"), "accepted[0].kind: unknown finding kind 'extra_idx'"),
        (bad_entry(kind=["extra_index"]), "accepted[0].kind: unknown finding kind ['extra_index']"),
        (bad_entry(table=...), "accepted[0].table: must be a non-empty string"),
        (bad_entry(reason=" "), "accepted[0].reason: must be a non-empty string"),
        (bad_entry(reason=...), "accepted[0].reason: must be a non-empty string"),
        (bad_entry(schema=3), "accepted[0].schema: must be a non-empty string"),
        (bad_entry(name=""), "accepted[0].name: must be a non-empty string"),
        (bad_entry(actual=3), "accepted[0].actual: must be a string or null"),
        (bad_entry(expected=[]), "accepted[0].expected: must be a string or null"),
    ],
    ids=[
        "not_an_object",
        "unknown_top_level_key",
        "no_version",
        "future_version",
        "no_accepted",
        "entry_not_an_object",
        "unknown_entry_key",
        "no_kind",
        "unknown_kind",
        "kind_not_a_string",
        "no_table",
        "blank_reason",
        "no_reason",
        "schema_not_a_string",
        "empty_name",
        "actual_not_a_string",
        "expected_not_a_string",
    ],
)
def test_parse_refuses_bad_documents_with_one_line(document: object, says: str) -> None:
    """Every mistake is one line naming the file, the entry and the key."""
    with pytest.raises(ConfigError) as caught:
        parse(document, origin="baseline file b.json")

    message = str(caught.value)
    assert says in message
    assert message.startswith("baseline file b.json")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist (write one with driftwatch check --write-baseline)"),
        (b'{"version": 1, "accepted": [}', "is not valid JSON: Expecting value: line 1"),
        (b"\xff\xfe", "cannot be read: not UTF-8 text"),
        (b"version = 1\naccepted = []\n", "is not valid JSON"),
    ],
    ids=["missing", "invalid_json", "not_utf8", "toml_instead_of_json"],
)
def test_read_baseline_refuses_unreadable_files(
    tmp_path: Path, content: bytes | None, says: str
) -> None:
    """A missing or unparsable file is one line naming it."""
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ConfigError) as caught:
        read_baseline(path)

    assert str(caught.value).startswith(f"baseline file {path} ")
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_write_baseline_replaces_the_file_and_keeps_its_mode(tmp_path: Path) -> None:
    """The file is replaced whole, keeps its permissions, and no temporary file is left."""
    path = tmp_path / "baseline.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o640)
    baseline = parse(EXAMPLE, origin="b.json")

    write_baseline(path, baseline)

    assert read_baseline(path) == baseline
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]


def test_write_baseline_new_file_and_unwritable_folder(tmp_path: Path) -> None:
    """A new file is readable by others (it is reviewed and committed); a folder that does
    not exist is one line and leaves nothing behind."""
    path = tmp_path / "new.json"
    write_baseline(path, Baseline())
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

    with pytest.raises(ConfigError, match=r"cannot write baseline file .*/nope/b\.json: No such"):
        write_baseline(tmp_path / "nope" / "b.json", Baseline())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"]


def test_generated_entries_pin_the_models_side_too_and_may_leave_the_schema_out() -> None:
    """An accepted type_mismatch whose models' type then changes is drift again; without
    the schema, the entry fits the same table in another database (MySQL)."""
    accepted = finding(FindingKind.TYPE_MISMATCH, "users", "name", expected="TEXT", actual="X")
    models_moved = finding(FindingKind.TYPE_MISMATCH, "users", "name", expected="INT", actual="X")
    elsewhere = finding(FindingKind.TYPE_MISMATCH, "users", "name", schema="prod",
                        expected="TEXT", actual="X")  # fmt: skip

    baseline = regenerate([accepted], None, reason="r")
    portable = regenerate([accepted], None, reason="r", schema=False)

    assert apply([models_moved], baseline)[0] == (models_moved,)
    assert apply([elsewhere], baseline)[0] == (elsewhere,)
    assert apply([elsewhere], portable)[0] == ()
