"""driftwatch on its first user: the Control Plane's enums and CHECK constraints.

alembic's own comparison (what `alembic check` runs) sees neither a PostgreSQL enum label
added or lost behind the migrations' back nor a dropped CHECK constraint; driftwatch does,
on the real project, without a false alarm at head.
"""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import URL, Connection

from control_plane.models import metadata
from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.findings import Finding, FindingKind
from tests.conftest import REPO_ROOT
from tests.integration.test_control_plane_migrations import alembic, on_connection
from tests.support.scenarios import Rebuild, execute, rebuild_sqlite_table


def control_plane(url: URL) -> Target:
    return Target(
        name="control-plane",
        url=url,
        alembic_ini=REPO_ROOT / "alembic.ini",
        metadata=("control_plane.models:metadata",),
    )


def findings(url: URL) -> tuple[Finding, ...]:
    report = asyncio.run(check_target(control_plane(url)))
    assert report.error is None, report.error
    assert report.schema is not None and report.schema.compared
    return report.schema.findings


def alembic_sees(url: URL) -> list[object]:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    result: list[object] = on_connection(url, diff)
    return result


def test_control_plane_at_head_has_no_findings(any_url: URL) -> None:
    """Native enums, CHECK constraints and MariaDB's JSON checks are no false alarm."""
    alembic("upgrade", "head", url=any_url)

    assert findings(any_url) == ()


def test_enum_label_added_behind_the_migrations_back(pg_url: URL) -> None:
    """ALTER TYPE ... ADD VALUE by hand: alembic sees nothing, driftwatch names the label."""
    alembic("upgrade", "head", url=pg_url)
    execute(pg_url, "ALTER TYPE run_status ADD VALUE 'paused'")

    assert alembic_sees(pg_url) == []
    (finding,) = findings(pg_url)
    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.EXTRA_ENUM_VALUE,
        "runs",
        "status",
    )
    assert finding.actual is not None and finding.actual.endswith("'cancelled', 'paused')")
    assert "'paused'" in finding.message


def test_enum_used_by_two_columns_is_reported_on_each(pg_url: URL) -> None:
    """A label lost from task_status concerns every column of that type, each named."""
    alembic("upgrade", "head", url=pg_url)
    execute(
        pg_url,
        "ALTER TYPE task_status RENAME VALUE 'skipped' TO 'ignored'",
    )

    found = sorted((f.kind.value, f.table, f.name) for f in findings(pg_url))

    assert found == [
        ("extra_enum_value", "tasks", "status"),
        ("missing_enum_value", "tasks", "status"),
    ]


def test_dropped_check_constraint(any_url: URL) -> None:
    """A CHECK constraint dropped by hand is a missing_check that alembic does not report."""
    alembic("upgrade", "head", url=any_url)
    if any_url.get_backend_name() == "sqlite":
        ddl = "CONSTRAINT ck_tasks_attempt_not_negative CHECK (attempt >= 0), \n\t"
        rebuild_sqlite_table(any_url, Rebuild("tasks", ((ddl, ""),)))
    else:
        execute(any_url, "ALTER TABLE tasks DROP CONSTRAINT ck_tasks_attempt_not_negative")

    assert alembic_sees(any_url) == []
    (finding,) = findings(any_url)
    assert (finding.kind, finding.table, finding.name) == (
        FindingKind.MISSING_CHECK,
        "tasks",
        "ck_tasks_attempt_not_negative",
    )
    assert finding.expected == "CHECK (attempt >= 0)"
