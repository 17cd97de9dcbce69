"""The snapshot comparison against alembic's, on every scenario project and dialect.

A database freshly migrated to head reports nothing through either comparison (compare_type
and compare_server_default on: the strictest settings), and the snapshot comparison
reports everything alembic's does for the same out-of-band changes (the finding matrix of
test_check_findings runs each change through both). The cases where alembic's comparison
misses what the snapshot sees are listed with their reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.report import TargetReport
from tests.integration.test_check_findings import METHOD, comparing
from tests.support.scenarios import (
    AUDITED,
    SHOP,
    TRACES,
    alembic_config,
    audited_target,
    execute,
    migrate,
    shop_target,
    traces_target,
)

SCENARIOS: dict[str, tuple[Any, Callable[..., Target], tuple[str, ...]]] = {
    # scenario: (folder, target, dialects it supports)
    "shop": (SHOP, shop_target, ("postgresql", "mysql", "sqlite")),
    "audited": (AUDITED, audited_target, ("postgresql",)),  # two schemas
    "traces": (TRACES, traces_target, ("postgresql", "mysql", "sqlite")),
}
URL_FIXTURES = {"postgresql": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}


def _check(target: Target) -> TargetReport:
    report = asyncio.run(check_target(target))
    assert report.error is None, report.error
    return report


@pytest.mark.parametrize("comparison", ["snapshot", "alembic"])
@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_database_at_head_reports_nothing(
    scenario: str, dialect: str, comparison: str, request: pytest.FixtureRequest
) -> None:
    """Every scenario migrated to head by its own migrations matches its models exactly:
    through alembic's comparison, and through the replay the snapshot setting runs, where the
    live schema matches what the migrations produce (no drift) and that matches the models
    (nothing unmigrated)."""
    folder, make_target, dialects = SCENARIOS[scenario]
    if dialect not in dialects:
        pytest.skip(f"the {scenario} scenario is written for {', '.join(dialects)}")
    url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    migrate(url, "head", config=alembic_config(folder))

    report = _check(
        make_target(
            url, compare_type=True, compare_server_default=True, **comparing(comparison, url)
        )
    )

    assert report.schema is not None and report.schema.method == METHOD[comparison]
    assert [(f.kind.value, f.table, f.name) for f in report.schema.findings] == []
    assert report.status().value == "in_sync"


def test_what_alembic_misses_the_snapshot_sees(pg_url: URL) -> None:
    """alembic compares an index by its columns only: an index rebuilt as a partial one
    under its old name looks unchanged to it. The snapshot sees the WHERE clause (one of the
    documented differences between the two paths)."""
    migrate(pg_url, "head")
    execute(
        pg_url,
        "DROP INDEX ix_users_name",
        "CREATE INDEX ix_users_name ON users (name) WHERE active",
    )

    snapshot = _check(shop_target(pg_url, comparison="snapshot"))
    alembic = _check(shop_target(pg_url, comparison="alembic"))

    assert snapshot.schema is not None and alembic.schema is not None
    assert [f.kind.value for f in snapshot.schema.findings] == ["index_mismatch"]
    assert alembic.schema.findings == ()
