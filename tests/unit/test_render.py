"""Reports as text for people and JSON for programs, from hand-built reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from driftwatch.compare.baseline import Baseline, BaselineEntry, Exact
from driftwatch.findings import Finding, FindingKind
from driftwatch.render.document import JSON_SCHEMA_VERSION, render_json
from driftwatch.render.text import render_text
from driftwatch.report import Category, CheckKind, Report, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def finding(kind: FindingKind, table: str, name: str | None, **fields: Any) -> Finding:
    values: dict[str, Any] = {
        "schema": "public",
        "expected": None,
        "actual": None,
        "message": f"{kind.value} on {table}",
    }
    values.update(fields)
    return Finding(kind=kind, table=table, name=name, **values)


def revision(kind: RevisionStateKind, **fields: Any) -> RevisionState:
    values: dict[str, Any] = {
        "database_heads": ("c3",),
        "script_heads": ("c3",),
        "pending": (),
        "unknown": (),
    }
    values.update(fields)
    return RevisionState(kind=kind, **values)


def target(name: str = "shop", **fields: Any) -> TargetReport:
    values: dict[str, Any] = {
        "url": "postgresql+asyncpg://app:***@db/shop",
        "dialect": "postgresql",
        "started_at": NOW,
        "duration_seconds": 0.25,
        "check_kind": CheckKind.FULL,
        "revision": revision(RevisionStateKind.AT_HEAD),
        "schema": SchemaResult(compared=True, compared_at=NOW),
    }
    values.update(fields)
    return TargetReport(target=name, **values)


def report(*targets: TargetReport, fail_on: frozenset[Category] | None = None) -> Report:
    if fail_on is None:
        return Report(targets=targets, generated_at=NOW)
    return Report(targets=targets, generated_at=NOW, fail_on=fail_on)


BEHIND = revision(
    RevisionStateKind.BEHIND,
    database_heads=("a1",),
    pending=(
        PendingRevision(revision="b2", message="create orders"),
        PendingRevision(revision="c3", message="add users.active"),
    ),
)
DRIFT = SchemaResult(
    compared=True,
    compared_at=NOW,
    findings=(
        finding(FindingKind.EXTRA_INDEX, "orders", "ix_orders_total", actual="INDEX (total)"),
        finding(FindingKind.MISSING_TABLE, "refunds", None, expected="table"),
        finding(FindingKind.EXTRA_COLUMN, "users", "nickname", actual="VARCHAR(40) NULL"),
        finding(
            FindingKind.TYPE_MISMATCH,
            "users",
            "name",
            expected="VARCHAR(100)",
            actual="VARCHAR(50)",
        ),
    ),
)


def test_in_sync_text() -> None:
    """An in-sync target reads: name and URL, at head, schema matches, IN SYNC summary."""
    text = render_text(report(target()))

    assert text.splitlines() == [
        "[shop] postgresql+asyncpg://app:***@db/shop",
        "  revision  at head",
        "            database c3; head c3",
        "  schema    matches the models (full comparison)",
        "  => IN SYNC  (0.25 s)",
        "",
        "1 target: 1 in sync, 0 out of sync, 0 could not be checked",
    ]


def test_drift_text_revision_first_then_findings_by_table_then_summary() -> None:
    """Revision state comes first, findings are grouped under one header per table."""
    lines = render_text(report(target(revision=BEHIND, schema=DRIFT))).splitlines()

    assert lines[1] == "  revision  BEHIND: 2 migrations pending"
    assert lines[3].split() == ["pending", "b2", "create", "orders"]
    assert lines[4].split() == ["pending", "c3", "add", "users.active"]
    assert lines[5] == "  schema    4 differences (full comparison)"
    headers = [line.strip() for line in lines if line.startswith("    ") and line[4:5] != " "]
    assert headers == ["public.orders", "public.refunds", "public.users"]
    users = lines.index("    public.users")
    assert lines[users + 1].split()[:2] == ["extra_column", "nickname"]
    assert "models: VARCHAR(100); database: VARCHAR(50)" in lines[users + 2]
    assert lines[-3] == ("  => OUT OF SYNC: behind, 4 schema difference(s)  (0.25 s)")
    assert lines[-1] == "1 target: 0 in sync, 1 out of sync, 0 could not be checked"


@pytest.mark.parametrize(
    ("state", "headline"),
    [
        (revision(RevisionStateKind.AT_HEAD), "at head"),
        (BEHIND, "BEHIND: 2 migrations pending"),
        (
            revision(RevisionStateKind.UNKNOWN_REVISION, database_heads=("zz",), unknown=("zz",)),
            "UNKNOWN REVISION: the scripts do not have zz",
        ),
        (
            revision(RevisionStateKind.NO_VERSION_TABLE, database_heads=None),
            "NO VERSION TABLE: the database was never migrated",
        ),
        (
            revision(
                RevisionStateKind.MULTIPLE_SCRIPT_HEADS,
                database_heads=("l", "r"),
                script_heads=("l", "r"),
            ),
            "MULTIPLE SCRIPT HEADS (2)",
        ),
        (
            revision(
                RevisionStateKind.PARTIALLY_APPLIED,
                database_heads=("l",),
                script_heads=("l", "r"),
                pending=(PendingRevision(revision="r", message="right"),),
            ),
            "PARTIALLY APPLIED: the database is on some of 2 script heads, 1 migration pending",
        ),
    ],
    ids=lambda v: v.kind.value if isinstance(v, RevisionState) else "",
)
def test_every_revision_state_has_a_headline(state: RevisionState, headline: str) -> None:
    """Each revision state is spelled out on the revision line."""
    lines = render_text(report(target(revision=state))).splitlines()

    assert lines[1] == f"  revision  {headline}"


def test_base_and_missing_version_table_are_told_apart() -> None:
    """An empty version table and no version table read differently on the heads line."""
    base = render_text(
        report(target(revision=revision(RevisionStateKind.BEHIND, database_heads=())))
    )
    missing = render_text(
        report(target(revision=revision(RevisionStateKind.NO_VERSION_TABLE, database_heads=None)))
    )

    assert "database (base: nothing applied); head c3" in base
    assert "database (no version table); head c3" in missing


def test_error_target_text() -> None:
    """A target that could not be checked says why in its summary."""
    failed = target(revision=None, schema=None, check_kind=None, error="target 'shop': refused")

    lines = render_text(report(failed)).splitlines()

    assert lines == [
        "[shop] postgresql+asyncpg://app:***@db/shop",
        "  => COULD NOT CHECK: target 'shop': refused  (0.25 s)",
        "",
        "1 target: 0 in sync, 0 out of sync, 1 could not be checked",
    ]


def test_schema_not_compared_says_why() -> None:
    """Without models the schema line says it was not compared and why."""
    skipped = SchemaResult(compared=False, skipped_reason="no models configured (metadata)")

    text = render_text(report(target(schema=skipped)))

    assert "  schema    not compared: no models configured (metadata)" in text


NOT_COMPARED = SchemaResult(compared=False, skipped_reason="no models configured (metadata)")


def test_a_schema_not_compared_is_never_in_sync_unqualified() -> None:
    """At head but no schema compared: the verdict says in sync on the revision only, and the
    total line counts the schemas not compared; exit 0 by default."""
    whole = report(target(schema=NOT_COMPARED))

    assert render_text(whole).splitlines() == [
        "[shop] postgresql+asyncpg://app:***@db/shop",
        "  revision  at head",
        "            database c3; head c3",
        "  schema    not compared: no models configured (metadata)",
        "  => IN SYNC (revision only; schema not compared)  (0.25 s)",
        "",
        "1 target: 1 in sync, 0 out of sync, 0 could not be checked; 1 schema not compared",
    ]
    assert whole.exit_code() == 0
    assert list(whole.problems()) == []


def test_a_schema_not_compared_is_named_beside_an_out_of_sync_revision() -> None:
    """Behind, schema not compared: out of sync for the revision, and the summary says the
    schema was not looked at either."""
    text = render_text(report(target(revision=BEHIND, schema=NOT_COMPARED)))

    assert "  => OUT OF SYNC: behind, schema not compared  (0.25 s)" in text


def test_fail_on_not_compared_makes_a_schema_not_compared_an_error() -> None:
    """`not_compared` in --fail-on: the target could not be checked as asked (exit 2, one
    problem line saying why), even where `error` is not in the list."""
    for fail_on in ({Category.NOT_COMPARED}, {Category.REVISION, Category.NOT_COMPARED}):
        whole = report(target(schema=NOT_COMPARED), fail_on=frozenset(fail_on))

        lines = render_text(whole).splitlines()
        assert lines[4] == (
            "  => COULD NOT CHECK: target 'shop': schema not compared: "
            "no models configured (metadata)  (0.25 s)"
        )
        assert whole.exit_code() == 2
        assert list(whole.problems()) == [
            "target 'shop': schema not compared: no models configured (metadata)"
        ]
        document = json.loads(render_json(whole))
        assert document["exit_code"] == 2
        assert document["targets"][0]["status"] == "error"
        assert document["targets"][0]["error"] == whole.targets[0].problem(whole.fail_on)


def test_fail_on_not_compared_passes_a_compared_schema() -> None:
    """A compared schema satisfies `not_compared`: in sync stays exit 0, drift stays exit 1."""
    demanding = frozenset({Category.DRIFT, Category.ERROR, Category.NOT_COMPARED})

    assert report(target(), fail_on=demanding).exit_code() == 0
    assert report(target(schema=DRIFT), fail_on=demanding).exit_code() == 1


def test_schema_json_status() -> None:
    """The JSON's schema says `status` not_compared, with the reason, and no in_sync verdict;
    a compared one says compared."""
    document = json.loads(render_json(report(target(schema=NOT_COMPARED), target("b"))))
    uncompared, compared = (t["schema"] for t in document["targets"])

    assert uncompared["status"] == "not_compared"
    assert uncompared["skipped_reason"] == "no models configured (metadata)"
    assert uncompared["in_sync"] is None
    assert document["targets"][0]["status"] == "in_sync"
    assert document["targets"][0]["error"] is None
    assert compared["status"] == "compared"
    assert compared["in_sync"] is True


def test_fail_on_changes_the_text_verdict() -> None:
    """With --fail-on revision, schema drift alone is IN SYNC in the summary."""
    text = render_text(report(target(schema=DRIFT), fail_on=frozenset({Category.REVISION})))

    assert "  => IN SYNC: 4 schema difference(s)" in text
    assert text.endswith("1 target: 1 in sync, 0 out of sync, 0 could not be checked")


def test_a_migrating_target_gives_no_schema_verdict() -> None:
    """A migration seen running: the revision line says so, the schema is not judged (drift
    kept from an earlier comparison neither fails it nor shows in the summary), and it is out
    of sync only where `revision` counts."""
    migrating = revision(
        RevisionStateKind.MIGRATING, database_heads=("a1",), pending=BEHIND.pending
    )
    seen = target(revision=migrating, schema=DRIFT)

    text = render_text(report(seen))
    schema_only = report(seen, fail_on=frozenset({Category.DRIFT, Category.ERROR}))
    document = json.loads(render_json(report(seen)))

    assert text.splitlines()[1] == (
        "  revision  MIGRATING: a migration is running; no drift verdict until the check after it"
    )
    assert "  => OUT OF SYNC: migrating  (0.25 s)" in text
    assert (report(seen).exit_code(), schema_only.exit_code()) == (1, 0)
    assert document["targets"][0]["revision"]["state"] == "migrating"
    assert document["targets"][0]["status"] == "out_of_sync"


def test_several_targets_each_reported_in_order() -> None:
    """Targets appear in the order given, separated by blank lines, with one total line."""
    text = render_text(
        report(
            target("a"),
            target("b", schema=DRIFT),
            target("c", revision=None, schema=None, error="boom"),
        )
    )

    starts = [line for line in text.splitlines() if line.startswith("[")]
    assert [s.split()[0] for s in starts] == ["[a]", "[b]", "[c]"]
    assert text.endswith("3 targets: 1 in sync, 1 out of sync, 1 could not be checked")


# what the DBA added on purpose, and an entry for an index dropped since
BASELINE = Baseline(
    entries=(
        BaselineEntry(
            kind=FindingKind.EXTRA_INDEX,
            table="orders",
            name="ix_orders_*",
            reason="DBA index for the weekly report",
        ),
        BaselineEntry(
            kind=FindingKind.EXTRA_INDEX,
            schema="public",
            table="users",
            name="ix_users_legacy",
            actual=Exact("INDEX (legacy)"),
            reason="dropped in 2025",
        ),
    )
)


def test_accepted_findings_and_stale_entries_are_shown_after_the_drift() -> None:
    """Accepted findings keep their line, with the reason under it, after the drift; stale
    entries are listed for pruning; only the drift counts in the verdict."""
    lines = render_text(report(target(schema=DRIFT.under(BASELINE)))).splitlines()

    assert lines[3] == "  schema    3 differences, 1 accepted by baseline (full comparison)"
    accepted = lines.index("  accepted by baseline: 1")
    assert lines.index("    public.users") < accepted
    assert lines[accepted + 1 : accepted + 4] == [
        "    public.orders",
        f"      {'extra_index':<20} {'ix_orders_total':<28} database: INDEX (total)",
        f"{'':27}reason: DBA index for the weekly report",
    ]
    assert lines[accepted + 4 :][:3] == [
        "  baseline entries that matched nothing: 1",
        f"      {'extra_index':<20} {'public.users.ix_users_legacy':<28} database: INDEX (legacy)",
        f"{'':27}reason: dropped in 2025",
    ]
    assert lines[-3] == "  => OUT OF SYNC: 3 schema difference(s)  (0.25 s)"


def test_everything_accepted_is_in_sync_and_still_visible() -> None:
    """When the baseline accepts every difference the schema matches, and says what it
    accepted; an entry without schema reads as any schema."""
    only_index = SchemaResult(compared=True, compared_at=NOW, findings=DRIFT.findings[:1])
    loose = BaselineEntry(kind=FindingKind.EXTRA_TABLE, table="tmp_*", reason="scratch")
    baseline = Baseline(entries=(*BASELINE.entries[:1], loose))

    text = render_text(report(target(schema=only_index.under(baseline))))

    assert "  schema    matches the models, 1 accepted by baseline (full comparison)" in text
    assert "ix_orders_total" in text
    assert f"      {'extra_table':<20} *.tmp_*" in text
    assert "  => IN SYNC  (0.25 s)" in text


# --- JSON -----------------------------------------------------------------------------


def test_json_top_level() -> None:
    """JSON starts with schema_version and carries status and exit code of the whole run."""
    data = json.loads(render_json(report(target(revision=BEHIND))))

    assert next(iter(data)) == "schema_version"
    assert data["schema_version"] == JSON_SCHEMA_VERSION == 2
    assert data["status"] == "out_of_sync"
    assert data["exit_code"] == 1
    assert data["fail_on"] == ["drift", "error", "revision"]
    assert data["generated_at"] == "2026-01-02T03:04:05Z"
    assert set(data) == {
        "schema_version",
        "driftwatch_version",
        "generated_at",
        "fail_on",
        "status",
        "exit_code",
        "targets",
    }


def test_json_target_revision_and_findings() -> None:
    """Each target has its revision state, pending list and findings with every field."""
    data = json.loads(render_json(report(target(revision=BEHIND, schema=DRIFT))))
    (shop,) = data["targets"]

    assert shop["name"] == "shop"
    assert shop["url"] == "postgresql+asyncpg://app:***@db/shop"
    assert shop["status"] == "out_of_sync"
    assert shop["error"] is None
    assert shop["revision"] == {
        "state": "behind",
        "in_sync": False,
        "database_heads": ["a1"],
        "database_heads_omitted": 0,
        "script_heads": ["c3"],
        "pending": [
            {"revision": "b2", "message": "create orders"},
            {"revision": "c3", "message": "add users.active"},
        ],
        "unknown": [],
        "unknown_omitted": 0,
    }
    assert shop["schema"]["in_sync"] is False
    assert shop["schema"]["counts"] == {
        "extra_column": 1,
        "extra_index": 1,
        "missing_table": 1,
        "type_mismatch": 1,
    }
    type_change = shop["schema"]["findings"][3]
    assert type_change == {
        "kind": "type_mismatch",
        "severity": "error",
        "schema": "public",
        "table": "users",
        "name": "name",
        "expected": "VARCHAR(100)",
        "actual": "VARCHAR(50)",
        "message": "type_mismatch on users",
        "attribution": "unattributed",
        "revision": None,
        "fix": None,
    }


def test_json_accepted_findings_and_unmatched_entries() -> None:
    """`accepted` holds each accepted finding with its reason, `baseline_unmatched` the
    entries as the file spells them; neither counts in `counts` or the status."""
    data = json.loads(render_json(report(target(schema=DRIFT.under(BASELINE)))))
    schema = data["targets"][0]["schema"]

    assert [f["name"] for f in schema["findings"]] == [None, "nickname", "name"]
    assert "extra_index" not in schema["counts"]
    assert schema["accepted"] == [
        {
            "kind": "extra_index",
            "severity": "warning",
            "schema": "public",
            "table": "orders",
            "name": "ix_orders_total",
            "expected": None,
            "actual": "INDEX (total)",
            "message": "extra_index on orders",
            "attribution": "unattributed",
            "revision": None,
            "fix": None,
            "reason": "DBA index for the weekly report",
        }
    ]
    assert schema["baseline_unmatched"] == [
        {
            "kind": "extra_index",
            "schema": "public",
            "table": "users",
            "name": "ix_users_legacy",
            "actual": "INDEX (legacy)",
            "reason": "dropped in 2025",
        }
    ]
    plain = json.loads(render_json(report(target(schema=DRIFT))))["targets"][0]["schema"]
    assert (plain["accepted"], plain["baseline_unmatched"]) == ([], [])


def test_json_error_and_no_version_table_are_errors() -> None:
    """A failed check and a database with no version table both have status error, exit 2."""
    failed = target("down", revision=None, schema=None, error="target 'down': refused")
    never = target(
        "new", revision=revision(RevisionStateKind.NO_VERSION_TABLE, database_heads=None)
    )

    data = json.loads(render_json(report(target("ok"), failed, never)))

    by_name = {t["name"]: t for t in data["targets"]}
    assert by_name["ok"]["status"] == "in_sync"
    assert by_name["down"]["status"] == "error"
    assert by_name["down"]["error"] == "target 'down': refused"
    assert by_name["new"]["status"] == "error"
    assert "no alembic version table" in by_name["new"]["error"]
    assert by_name["new"]["revision"]["database_heads"] is None
    assert (data["status"], data["exit_code"]) == ("error", 2)


def test_json_fail_on_schema_ignores_revision() -> None:
    """With --fail-on schema a target that is only behind is in sync (exit 0)."""
    data = json.loads(
        render_json(report(target(revision=BEHIND), fail_on=frozenset({Category.SCHEMA})))
    )

    assert (data["status"], data["exit_code"], data["fail_on"]) == ("in_sync", 0, ["schema"])
    assert data["targets"][0]["revision"]["state"] == "behind"
