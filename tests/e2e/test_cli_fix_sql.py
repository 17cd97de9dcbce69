"""`driftwatch check --fix-sql` as a user runs it: the script it prints, run by hand on the
drifted database, brings it back in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import SHOP, SHOP_METADATA, execute, migrate, plain_url, run_driftwatch
from tests.support.servers import Server

DRIFT = (
    "CREATE INDEX ix_users_created_at ON users (created_at)",
    "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",
    "DROP INDEX ix_users_name",
)


def statements(script: str) -> list[str]:
    """The script's statements, comment lines left out, as a SQL prompt would run them."""
    found = []
    for chunk in script.split(";\n"):
        code = "\n".join(line for line in chunk.splitlines() if not line.startswith("--"))
        if code.strip():
            found.append(code.strip().removesuffix(";"))
    return found


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_fix_sql_script_puts_the_database_back(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """--fix-sql prints a commented script instead of the report and exits 1 (as check);
    run by hand, it leaves the database in sync (exit 0)."""
    url: URL = request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "pg_url"}[dialect])
    flags = ["--url", plain_url(url), "--script-location", str(SHOP / "migrations")]
    flags += ["--metadata", SHOP_METADATA, "--comparison", "snapshot"]
    if dialect == "postgresql":
        server: Server = request.getfixturevalue("pg_server")
        flags += ["--scratch-url", plain_url(server.admin_url)]
    migrate(url, "head")
    execute(url, *DRIFT)

    result = run_driftwatch("check", "--fix-sql", *flags, cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"-- driftwatch fix SQL for target default ({dialect})"
    assert "never run by driftwatch" in lines[1]
    assert "DROP INDEX ix_users_created_at;" in lines
    assert "CREATE INDEX ix_users_name ON users" in result.stdout
    assert "-- destroys data: drops column users.nickname and its values" in lines
    assert "[default]" not in result.stdout  # the script instead of the report

    execute(url, *statements(result.stdout))

    again = run_driftwatch("check", *flags, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
