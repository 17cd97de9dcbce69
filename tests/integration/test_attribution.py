"""Attribution on real servers: drift, pending and unmigrated told apart by replaying the
migrations in a scratch database (DESIGN.md "Attribution").

The shop scenario has a real history (a1 users, b2 orders, c3 users.active). Each test
migrates a live database with alembic's own command, changes it as a person would, and
checks it; the scratch database is the default one (in-memory SQLite, the embedded
PostgreSQL) or, for MariaDB, the test server itself (driftwatch's throwaway databases).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.expected.cache import SnapshotCache
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.states import ExpectedStates
from driftwatch.findings import Attribution
from driftwatch.report import Category, TargetReport
from tests.scenarios.shop.models import metadata as shop_metadata
from tests.support.scenarios import SHOP, alembic_config, execute, migrate, shop_target

URL_FIXTURES = {"postgresql": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}

# the shop's models with one column and one index no migration adds (a model changed
# without `alembic revision --autogenerate`)
ahead_metadata = sa.MetaData(naming_convention=shop_metadata.naming_convention)
for _table in shop_metadata.tables.values():
    _table.to_metadata(ahead_metadata)
ahead_metadata.tables["users"].append_column(sa.Column("nickname", sa.String(40)))
sa.Index("ix_users_nickname", ahead_metadata.tables["users"].c.nickname)


def _url(request: pytest.FixtureRequest, dialect: str) -> URL:
    url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    return url


def _target(url: URL, **fields: object) -> Target:
    if url.get_backend_name() == "mysql":
        fields.setdefault("scratch_url", url)  # no embedded MySQL: the test server's
    return shop_target(url, compare_server_default=True, **fields)


def _check(target: Target, states: ExpectedStates | None = None) -> TargetReport:
    report = asyncio.run(check_target(target, states=states))
    assert report.error is None, report.error
    assert report.schema is not None and report.schema.compared
    return report


def _by(report: TargetReport, attribution: Attribution) -> list[tuple[str, str, str | None]]:
    assert report.schema is not None
    return [
        (f.kind.value, f.table, f.name)
        for f in report.schema.findings
        if f.attribution is attribution
    ]


def _revisions(report: TargetReport) -> dict[tuple[str, str | None], str | None]:
    assert report.schema is not None
    return {
        (f.table, f.name): f.revision
        for f in report.schema.findings
        if f.attribution is Attribution.PENDING
    }


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_two_revisions_behind_is_pending_per_revision_and_no_drift(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    url = _url(request, dialect)
    migrate(url, "a1")

    report = _check(_target(url))

    assert report.schema is not None and report.schema.method == "replay"
    assert _by(report, Attribution.DRIFT) == []
    assert _by(report, Attribution.UNMIGRATED) == []
    assert sorted(_by(report, Attribution.PENDING)) == [
        ("missing_column", "users", "active"),
        ("missing_table", "orders", None),
    ]
    assert _revisions(report) == {("orders", None): "b2", ("users", "active"): "c3"}
    assert report.schema.in_sync  # pending is not drift
    assert report.status().value == "out_of_sync"  # the revision state is behind
    assert report.status(frozenset({Category.DRIFT})).value == "in_sync"


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_hand_change_on_a_database_behind_is_drift_and_nothing_else(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    url = _url(request, dialect)
    migrate(url, "b2")
    execute(url, "CREATE INDEX ix_hand_made ON orders (total)")

    report = _check(_target(url))

    assert _by(report, Attribution.DRIFT) == [("extra_index", "orders", "ix_hand_made")]
    assert _by(report, Attribution.PENDING) == [("missing_column", "users", "active")]
    assert _revisions(report) == {("users", "active"): "c3"}
    assert report.schema is not None and not report.schema.in_sync
    assert report.status(frozenset({Category.DRIFT})).value == "out_of_sync"
    assert report.status(frozenset({Category.PENDING})).value == "out_of_sync"
    assert report.status(frozenset({Category.UNMIGRATED})).value == "in_sync"


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_model_changed_without_a_migration_is_unmigrated_not_drift(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    url = _url(request, dialect)
    migrate(url, "head")

    report = _check(_target(url, metadata=(f"{__name__}:ahead_metadata",)))

    assert _by(report, Attribution.DRIFT) == []
    assert _by(report, Attribution.PENDING) == []
    assert sorted(_by(report, Attribution.UNMIGRATED)) == [
        ("missing_column", "users", "nickname"),
        ("missing_index", "users", "ix_users_nickname"),
    ]
    assert report.schema is not None and report.schema.in_sync
    assert report.status().value == "in_sync"  # the default fails on drift and revision
    assert report.status(frozenset({Category.UNMIGRATED})).value == "out_of_sync"


HALF_FAILING = '''"""add users.nickname, unique names

Revision ID: d4
Revises: c3
"""
import sqlalchemy as sa
from alembic import op

revision = "d4"
down_revision = "c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("nickname", sa.String(40)))
    op.create_index("uq_users_name", "users", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_name", table_name="users")
    op.drop_column("users", "nickname")
'''


def test_a_migration_that_failed_half_way_on_mysql_is_drift(mysql_url: URL, tmp_path: Path) -> None:
    """MySQL commits each DDL statement: d4 adds its column, then fails on the data (two
    users share a name) and the version stays at c3. On the empty scratch database d4
    runs through, so only the live database holds the half: that is drift."""
    scripts = tmp_path / "migrations"
    shutil.copytree(SHOP / "migrations", scripts)
    (scripts / "versions" / "d4_nickname.py").write_text(HALF_FAILING)
    config = alembic_config()
    config.set_main_option("script_location", str(scripts))
    migrate(mysql_url, "c3", config=config)
    execute(
        mysql_url,
        "INSERT INTO users (email, name) VALUES ('a@example.org', 'sam'), ('b@example.org', 'sam')",
    )
    with pytest.raises(sa.exc.IntegrityError):
        migrate(mysql_url, "d4", config=config)

    report = _check(_target(mysql_url, script_location=str(scripts)))

    assert report.revision is not None and report.revision.database_heads == ("c3",)
    assert _by(report, Attribution.DRIFT) == [("extra_column", "users", "nickname")]
    assert sorted(_by(report, Attribution.PENDING)) == [
        ("missing_column", "users", "nickname"),
        ("missing_index", "users", "uq_users_name"),
    ]


def test_an_unknown_revision_gets_no_replay_and_says_so(sqlite_url: URL) -> None:
    migrate(sqlite_url, "head")
    execute(sqlite_url, "UPDATE alembic_version SET version_num = 'zz9'")

    report = _check(_target(sqlite_url))

    assert report.schema is not None and report.schema.method == "snapshot"
    assert any("no replay" in note and "zz9" in note for note in report.schema.notes)
    assert {f.attribution for f in report.schema.findings} <= {Attribution.UNATTRIBUTED}


def test_a_cached_check_never_replays(pg_url: URL, tmp_path: Path) -> None:
    """Once the states are on disk, a check needs no scratch server at all: the second one
    has none (embedded server turned off, no scratch_url) and still attributes."""
    migrate(pg_url, "a1")
    execute(pg_url, "CREATE INDEX ix_hand_made ON users (email)")
    cache = tmp_path / "cache"

    def states(embedded: bool) -> ExpectedStates:
        scratch = ScratchServers(cache_dir=cache, embedded=embedded)
        return ExpectedStates(scratch=scratch, cache=SnapshotCache(cache))

    first = _check(_target(pg_url), states(embedded=True))
    second = _check(_target(pg_url), states(embedded=False))

    assert second.schema is not None and second.schema.method == "replay"
    assert second.schema.findings == first.schema.findings  # type: ignore[union-attr]
    assert _by(second, Attribution.DRIFT) == [("extra_index", "users", "ix_hand_made")]


def test_a_bootstrap_hook_prepares_a_chain_that_does_not_start_from_empty(
    sqlite_url: URL,
) -> None:
    """A chain whose first script assumes tables made elsewhere: the bootstrap builds them
    and the replay stamps the revision they stand for, then runs the rest."""
    migrate(sqlite_url, "head")

    report = _check(
        _target(sqlite_url, replay_bootstrap=f"{__name__}:create_a1", replay_stamp="a1")
    )

    assert report.schema is not None and report.schema.method == "replay"
    assert report.schema.findings == ()


def create_a1(conn: sa.Connection) -> None:
    """The users table as revision a1 leaves it (the bootstrap of the test above)."""
    a1 = sa.MetaData(naming_convention=shop_metadata.naming_convention)
    sa.Table(
        "users",
        a1,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("role", sa.Enum("customer", "staff", name="user_role"), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("email"),
        sa.Index(None, "name"),
    )
    a1.create_all(conn)


def test_a_failing_bootstrap_falls_back_and_names_it(sqlite_url: URL) -> None:
    migrate(sqlite_url, "head")

    report = _check(_target(sqlite_url, replay_bootstrap=f"{__name__}:no_such_hook"))

    assert report.schema is not None and report.schema.method == "snapshot"
    assert any("no_such_hook" in note for note in report.schema.notes)
