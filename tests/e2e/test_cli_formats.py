"""`driftwatch check --format junit|markdown` on a real drifted database, read back by the
parsers CI dashboards and GitHub use (junitparser, markdown-it-py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped
from markdown_it import MarkdownIt
from sqlalchemy.engine import URL

from tests.support.scenarios import SHOP, SHOP_METADATA, execute, migrate, plain_url, run_driftwatch
from tests.support.servers import Server


def shop_flags(dialect: str, url: URL, request: pytest.FixtureRequest) -> list[str]:
    flags = ["--url", plain_url(url), "--script-location", str(SHOP / "migrations")]
    flags += ["--metadata", SHOP_METADATA, "--comparison", "snapshot"]
    if dialect == "postgresql":
        server: Server = request.getfixturevalue("pg_server")
        flags += ["--scratch-url", plain_url(server.admin_url)]
    return flags


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_junit_and_markdown_of_a_drifted_database(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url: URL = request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "pg_url"}[dialect])
    flags = shop_flags(dialect, url, request)
    migrate(url, "head")
    execute(url, "CREATE INDEX ix_users_created_at ON users (created_at)")

    junit = run_driftwatch("check", "--format", "junit", *flags, cwd=tmp_path)
    markdown = run_driftwatch("check", "--format", "markdown", *flags, cwd=tmp_path)

    assert junit.returncode == markdown.returncode == 1, junit.stderr + markdown.stderr
    (suite,) = JUnitXml.fromstring(junit.stdout)
    cases = {(c.classname.rsplit(".", 1)[-1], c.name): c for c in suite}
    drift = cases[("users", "extra_index ix_users_created_at")]
    assert isinstance(drift.result[0], Failure)
    assert "DROP INDEX ix_users_created_at" in drift.result[0].text
    assert suite.failures == 1 and suite.errors == 0

    page = MarkdownIt("commonmark").enable("table").render(markdown.stdout)
    assert "<h3>driftwatch: ❌ out of sync</h3>" in page
    assert "ix_users_created_at" in page
    assert '<code class="language-sql">DROP INDEX ix_users_created_at' in page


def test_junit_in_sync_and_pending_is_listed_not_failed(
    sqlite_url: URL, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database behind its scripts: the revision fails the gate, the pending findings are
    listed as skipped; with `--fail-on drift` nothing fails and the exit code is 0."""
    flags = shop_flags("sqlite", sqlite_url, request)
    migrate(sqlite_url, "head")
    first = run_driftwatch("check", "--format", "junit", *flags, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (suite,) = JUnitXml.fromstring(first.stdout)
    assert suite.failures == 0 and suite.errors == 0 and suite.tests >= 3

    migrate(sqlite_url, "-1", down=True)
    behind = run_driftwatch("check", "--format", "junit", *flags, cwd=tmp_path)
    gate = run_driftwatch("check", "--format", "junit", "--fail-on", "drift", *flags, cwd=tmp_path)

    assert behind.returncode == 1 and gate.returncode == 0, behind.stderr + gate.stderr
    (suite,) = JUnitXml.fromstring(behind.stdout)
    results = [c.result[0] for c in suite if c.result]
    assert any(isinstance(r, Failure) and "behind" in r.message for r in results)
    assert any(isinstance(r, Skipped) and "pending" in r.message for r in results)
