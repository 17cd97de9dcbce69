"""`driftwatch check --format json` on server defaults that compile for one dialect only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import (
    TRACES,
    alembic_config,
    execute,
    migrate,
    plain_url,
    run_driftwatch,
)


def _config(tmp_path: Path, url: URL) -> Path:
    # only flow_runs: its key's default is prefect's GenerateUUID, which compiles for
    # PostgreSQL alone, and no other table is there to fail first
    path = tmp_path / "driftwatch.toml"
    path.write_text(
        "[[targets]]\n"
        'name = "traces"\n'
        f"url = {json.dumps(plain_url(url))}\n"
        f"script_location = {json.dumps(str(TRACES / 'migrations'))}\n"
        'metadata = "tests.scenarios.traces.models:pg_metadata"\n'
        'include_tables = ["flow_runs"]\n'
        "compare_server_default = true\n"
    )
    return path


@pytest.mark.parametrize("dropped", [False, True])
def test_postgres_only_function_default_gives_a_json_report(
    pg_url: URL, tmp_path: Path, dropped: bool
) -> None:
    """A default built from a PostgreSQL-only function element yields a JSON report: in sync
    at head (exit 0), one default_mismatch once the default is dropped (exit 1)."""
    migrate(pg_url, "head", config=alembic_config(TRACES))
    if dropped:
        execute(pg_url, "ALTER TABLE flow_runs ALTER COLUMN id DROP DEFAULT")

    result = run_driftwatch(
        "check", "--config", str(_config(tmp_path, pg_url)), "--format", "json", cwd=tmp_path
    )

    assert result.stderr == ""
    assert result.returncode == (1 if dropped else 0), result.stdout
    (target,) = json.loads(result.stdout)["targets"]
    found = [(f["kind"], f["table"], f["name"]) for f in target["schema"]["findings"]]
    assert found == ([("default_mismatch", "flow_runs", "id")] if dropped else [])
