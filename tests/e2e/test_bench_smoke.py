"""bench/steady_state.py still runs: a tiny size on each dialect, no timing asserted.

The figures themselves are for people (bench/README.md); this only keeps the script from
rotting as driftwatch changes: it exits 0, prints the table and the ratio lines, sees a
clean comparison on its generated schema, and drops its throwaway database.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import asyncpg
import pytest
from sqlalchemy.engine import URL

from tests.conftest import REPO_ROOT
from tests.support.servers import Server, unavailable

SCRIPT = REPO_ROOT / "bench" / "steady_state.py"
ROW_LABELS = (
    "floor: 4 catalog queries",
    "snapshot read alone",
    "driftwatch check (models cached)",
    "daemon full check",
    "diff alone",
    "alembic compare_metadata",
    "steady-state tick",
    "probe alone (connect + query)",
    "probe query alone",
    "connect alone (new engine)",
)
RATIO_LINE = re.compile(
    r"time \(median\):\s+check/floor = [0-9.e+-]+x .*diff/floor = [0-9.e+-]+x .*"
    r"tick/probe = [0-9.e+-]+x"
)


def run_bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--tables", "20", "--repeat", "1", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def check_output(out: str, *, round_trips: bool) -> str:
    """The common shape of the output; returns the throwaway database's name."""
    assert "== 20 tables:" in out
    for label in ROW_LABELS:
        assert re.search(rf"^  {re.escape(label)}\s+\d", out, re.MULTILINE), label
    assert RATIO_LINE.search(out), out
    assert re.search(r"vs alembic:\s+alembic/check = \S+x", out), out
    assert re.search(r"peak memory:\s+check = [0-9.]+ MiB", out), out
    assert ("round trips:      check = " in out) is round_trips, out
    # the generated schema is what the models say: both sides see no drift
    assert "alembic reports 0 diff(s); driftwatch in_sync (0 finding(s))" in out, out
    found = re.search(r"database (driftwatch_bench_20_[0-9a-f]+) created", out)
    assert found, out
    return found.group(1)


def server_url(server: Server | str) -> URL:
    if isinstance(server, str):
        unavailable(server)
        raise AssertionError("unreachable")
    return server.admin_url


async def _pg_database_exists(admin: URL, name: str) -> bool:
    host = admin.query.get("host") or admin.host
    conn = await asyncpg.connect(
        host=host if isinstance(host, str) else None,
        port=admin.port,
        user=admin.username,
        password=admin.password,
        database=admin.database,
    )
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


@pytest.mark.postgres
def test_bench_runs_on_postgresql(pg_server: Server | str) -> None:
    admin = server_url(pg_server)
    tcp = "host" not in admin.query  # the relay counting round trips needs TCP
    out = run_bench("--url", admin.render_as_string(hide_password=False))
    assert "PostgreSQL" in out.splitlines()[0]
    name = check_output(out, round_trips=tcp)
    assert not asyncio.run(_pg_database_exists(admin, name)), f"{name} was not dropped"


@pytest.mark.mysql
def test_bench_runs_on_mysql(my_server: Server | str) -> None:
    admin = server_url(my_server)
    out = run_bench("--dialect", "mysql", "--url", admin.render_as_string(hide_password=False))
    check_output(out, round_trips=True)


def test_bench_runs_on_sqlite() -> None:
    out = run_bench("--dialect", "sqlite")
    assert "SQLite" in out.splitlines()[0]
    check_output(out, round_trips=False)
