"""Server defaults as real projects write them (the traces scenario): generated columns,
function elements that compile for one dialect only, and volatile function calls."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.findings import Finding, FindingKind
from driftwatch.report import TargetReport
from tests.support.scenarios import (
    TRACES,
    Rebuild,
    alembic_config,
    execute,
    migrate,
    rebuild_sqlite_table,
    traces_target,
)


def _check(url: URL, **fields: bool) -> TargetReport:
    return asyncio.run(check_target(traces_target(url, **fields)))


def _findings(report: TargetReport) -> list[tuple[FindingKind, str, str | None]]:
    assert report.error is None, report.error
    assert report.schema is not None and report.schema.compared
    return [(f.kind, f.table, f.name) for f in report.schema.findings]


def _only(report: TargetReport) -> Finding:
    assert report.error is None, report.error
    assert report.schema is not None
    (finding,) = report.schema.findings
    return finding


@pytest.mark.parametrize("compare_type", [False, True])
def test_generated_and_volatile_defaults_at_head_are_in_sync(
    any_url: URL, compare_type: bool
) -> None:
    """At head, a generated column, now() and (on PostgreSQL) gen_random_uuid() defaults,
    one of them from a PostgreSQL-only function element, give no finding and no error."""
    migrate(any_url, "head", config=alembic_config(TRACES))

    report = _check(any_url, compare_type=compare_type)

    assert _findings(report) == []
    assert report.status().value == "in_sync"


@pytest.mark.parametrize("column", ["id", "token", "created"])
def test_postgres_dropped_volatile_default_is_reported(pg_url: URL, column: str) -> None:
    """A dropped gen_random_uuid() / timezone('utc', now()) default is one default_mismatch,
    including the one the models write with a PostgreSQL-only function element."""
    migrate(pg_url, "head", config=alembic_config(TRACES))
    execute(pg_url, f"ALTER TABLE flow_runs ALTER COLUMN {column} DROP DEFAULT")

    finding = _only(_check(pg_url))

    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.DEFAULT_MISMATCH,
        "flow_runs",
        column,
    )
    assert finding.actual is None
    assert finding.expected is not None
    assert ("now()" if column == "created" else "gen_random_uuid()") in finding.expected.lower()


def test_postgres_changed_volatile_default_is_reported(pg_url: URL) -> None:
    """A volatile default replaced by another function call is a default_mismatch."""
    migrate(pg_url, "head", config=alembic_config(TRACES))
    execute(pg_url, "ALTER TABLE flow_runs ALTER COLUMN created SET DEFAULT clock_timestamp()")

    finding = _only(_check(pg_url))

    assert (finding.kind, finding.name) == (FindingKind.DEFAULT_MISMATCH, "created")
    assert finding.actual == "clock_timestamp()"


def test_dropped_now_default_is_reported(any_url: URL) -> None:
    """A dropped now() default is one default_mismatch on every dialect."""
    migrate(any_url, "head", config=alembic_config(TRACES))
    if any_url.get_backend_name() == "sqlite":
        rebuild_sqlite_table(any_url, Rebuild("spans", ((" DEFAULT CURRENT_TIMESTAMP", ""),)))
    else:
        execute(any_url, "ALTER TABLE spans ALTER COLUMN created_at DROP DEFAULT")

    finding = _only(_check(any_url))

    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.DEFAULT_MISMATCH,
        "spans",
        "created_at",
    )
    assert finding.actual is None


GENERATED_CHANGES: dict[str, tuple[str, ...] | Rebuild] = {
    "postgresql": (
        "ALTER TABLE spans DROP COLUMN duration_ns",
        "ALTER TABLE spans ADD COLUMN duration_ns BIGINT "
        "GENERATED ALWAYS AS (end_time_unix_nano + start_time_unix_nano) STORED",
    ),
    "mysql": (
        "ALTER TABLE spans MODIFY duration_ns BIGINT "
        "AS (end_time_unix_nano + start_time_unix_nano) PERSISTENT",
    ),
    "sqlite": Rebuild(
        "spans",
        (
            (
                "end_time_unix_nano - start_time_unix_nano",
                "end_time_unix_nano + start_time_unix_nano",
            ),
        ),
    ),
}


def test_changed_generation_expression_is_reported(any_url: URL) -> None:
    """A generated column computing something else is one generated_mismatch."""
    migrate(any_url, "head", config=alembic_config(TRACES))
    change = GENERATED_CHANGES[any_url.get_backend_name()]
    if isinstance(change, Rebuild):
        rebuild_sqlite_table(any_url, change)
    else:
        execute(any_url, *change)

    finding = _only(_check(any_url))

    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.GENERATED_MISMATCH,
        "spans",
        "duration_ns",
    )
    assert finding.expected is not None and "-" in finding.expected
    assert finding.actual is not None and "+" in finding.actual


def test_postgres_generated_column_made_plain_is_reported(pg_url: URL) -> None:
    """A generated column turned into a plain one (DROP EXPRESSION) is a generated_mismatch."""
    migrate(pg_url, "head", config=alembic_config(TRACES))
    execute(pg_url, "ALTER TABLE spans ALTER COLUMN duration_ns DROP EXPRESSION")

    finding = _only(_check(pg_url))

    assert (finding.kind, finding.name) == (FindingKind.GENERATED_MISMATCH, "duration_ns")
    assert finding.actual is None
