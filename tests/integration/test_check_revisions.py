"""Every revision state, read from real databases on every dialect, without running env.py."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.report import Status, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from tests.support.scenarios import (
    SHOP,
    SHOP_BRANCHES,
    SHOP_VERSIONS,
    alembic_config,
    branched_config,
    execute,
    migrate,
    shop_target,
)

BRANCHED = (str(SHOP_VERSIONS), str(SHOP_BRANCHES))


def _check(target: Target) -> TargetReport:
    return asyncio.run(check_target(target))


def _state(target: Target) -> RevisionState:
    report = _check(target)
    assert report.error is None, report.error
    assert report.revision is not None
    return report.revision


def test_at_head(any_url: URL) -> None:
    """A database upgraded to the single head is at_head and in sync."""
    migrate(any_url, "head")

    report = _check(shop_target(any_url))

    assert report.revision is not None
    assert report.revision.kind is RevisionStateKind.AT_HEAD
    assert report.revision.database_heads == ("c3",)
    assert report.revision.script_heads == ("c3",)
    assert report.revision.pending == ()
    assert report.status() is Status.IN_SYNC


def test_behind_lists_pending_oldest_first_with_messages(any_url: URL) -> None:
    """A database at a1 is behind by b2 then c3, each with its message."""
    migrate(any_url, "a1")

    state = _state(shop_target(any_url))

    assert state.kind is RevisionStateKind.BEHIND
    assert state.database_heads == ("a1",)
    assert state.pending == (
        PendingRevision(revision="b2", message="create orders"),
        PendingRevision(revision="c3", message="add users.active"),
    )


def test_migrated_down_to_base_is_behind_by_everything(any_url: URL) -> None:
    """An empty version table (downgraded to base) is behind by every revision, not missing."""
    migrate(any_url, "head")
    migrate(any_url, "base", down=True)

    state = _state(shop_target(any_url))

    assert state.kind is RevisionStateKind.BEHIND
    assert state.database_heads == ()
    assert [p.revision for p in state.pending] == ["a1", "b2", "c3"]


def test_unknown_revision_is_named(any_url: URL) -> None:
    """A revision the scripts do not have (code rolled back) is unknown_revision, named."""
    migrate(any_url, "head")
    execute(any_url, "UPDATE alembic_version SET version_num = 'f00dfeed'")

    state = _state(shop_target(any_url))

    assert state.kind is RevisionStateKind.UNKNOWN_REVISION
    assert state.unknown == ("f00dfeed",)
    assert state.database_heads == ("f00dfeed",)
    assert state.script_heads == ("c3",)


def test_no_version_table(any_url: URL) -> None:
    """A database never migrated has no_version_table, and the check counts as failed."""
    execute(any_url, "CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")

    report = _check(shop_target(any_url))

    assert report.revision is not None
    assert report.revision.kind is RevisionStateKind.NO_VERSION_TABLE
    assert report.revision.database_heads is None
    assert report.status() is Status.ERROR
    problem = report.problem()
    assert problem is not None and "no alembic version table" in problem


def test_wrong_version_table_name_is_no_version_table(any_url: URL) -> None:
    """A target naming another version table sees none, even on a migrated database."""
    migrate(any_url, "head")

    state = _state(shop_target(any_url, version_table="shop_version"))

    assert state.kind is RevisionStateKind.NO_VERSION_TABLE


def test_multiple_script_heads_with_database_before_the_fork(any_url: URL) -> None:
    """Two unmerged script heads over a database at their common parent: both are pending."""
    migrate(any_url, "c3")

    state = _state(shop_target(any_url, version_locations=BRANCHED))

    assert state.kind is RevisionStateKind.MULTIPLE_SCRIPT_HEADS
    assert state.script_heads == ("d4left", "d4right")
    assert [p.revision for p in state.pending] == ["d4left", "d4right"]


def test_multiple_script_heads_with_database_on_all_of_them(any_url: URL) -> None:
    """A database on every head of unmerged scripts is still not at a single head."""
    migrate(any_url, "heads", config=branched_config())

    report = _check(shop_target(any_url, version_locations=BRANCHED))

    assert report.revision is not None
    assert report.revision.kind is RevisionStateKind.MULTIPLE_SCRIPT_HEADS
    assert report.revision.database_heads == ("d4left", "d4right")
    assert report.revision.pending == ()
    assert report.status() is Status.OUT_OF_SYNC


def test_partially_applied_database_on_one_of_two_heads(any_url: URL) -> None:
    """A database on d4left only is partially_applied, with d4right pending."""
    migrate(any_url, "d4left", config=branched_config())

    state = _state(shop_target(any_url, version_locations=BRANCHED))

    assert state.kind is RevisionStateKind.PARTIALLY_APPLIED
    assert state.database_heads == ("d4left",)
    assert state.pending == (
        PendingRevision(revision="d4right", message="right branch: no schema change"),
    )


def test_version_table_in_another_schema(pg_url: URL) -> None:
    """version_table_schema is where the applied revision is read from (PostgreSQL)."""
    execute(pg_url, "CREATE SCHEMA meta")
    migrate(pg_url, "head", config=alembic_config(version_table_schema="meta"))

    assert _state(shop_target(pg_url, version_table_schema="meta")).kind is (
        RevisionStateKind.AT_HEAD
    )
    assert _state(shop_target(pg_url)).kind is RevisionStateKind.NO_VERSION_TABLE


def test_env_py_is_never_run(sqlite_url: URL, tmp_path: Path) -> None:
    """The revision state comes from the scripts alone: an env.py that raises is not executed."""
    migrate(sqlite_url, "b2")
    scripts = tmp_path / "migrations"
    shutil.copytree(SHOP / "migrations", scripts)
    (scripts / "env.py").write_text("raise RuntimeError('driftwatch must not run env.py')\n")

    report = _check(shop_target(sqlite_url, script_location=str(scripts)))

    assert report.error is None, report.error
    assert report.revision is not None
    assert report.revision.kind is RevisionStateKind.BEHIND
    assert [p.revision for p in report.revision.pending] == ["c3"]


def test_script_location_as_package_resource(sqlite_url: URL) -> None:
    """script_location may be `package:path`, resolved through the import system."""
    migrate(sqlite_url, "head")

    state = _state(shop_target(sqlite_url, script_location="tests.scenarios.shop:migrations"))

    assert state.kind is RevisionStateKind.AT_HEAD


@pytest.mark.parametrize("location", ["migrations", "%(here)s/migrations"])
@pytest.mark.parametrize("run_in", ["project", "elsewhere"])
def test_alembic_ini_from_any_working_directory(
    sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str, run_in: str
) -> None:
    """An alembic.ini target finds its scripts wherever driftwatch runs (a monitor runs from
    anywhere): a relative script_location is taken from the ini file's folder."""
    migrate(sqlite_url, "a1")
    project = tmp_path / "project"
    shutil.copytree(SHOP / "migrations", project / "migrations")
    (project / "alembic.ini").write_text(f"[alembic]\nscript_location = {location}\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / run_in)

    state = _state(
        shop_target(sqlite_url, script_location=None, alembic_ini=project / "alembic.ini")
    )

    assert state.kind is RevisionStateKind.BEHIND
    assert [p.revision for p in state.pending] == ["b2", "c3"]
