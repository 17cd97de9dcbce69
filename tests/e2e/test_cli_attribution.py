"""Attribution through the real console script: the pre-upgrade gate of the README and
`--fail-on` by attribution, on a database behind (PostgreSQL with the embedded scratch
server, the README's default, and SQLite in memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import SHOP, SHOP_METADATA, execute, migrate, plain_url, run_driftwatch

FLAGS = ["--script-location", str(SHOP / "migrations"), "--metadata", SHOP_METADATA]
URLS = {"postgresql": "pg_url", "sqlite": "sqlite_url"}


@pytest.mark.parametrize("dialect", sorted(URLS))
def test_pre_upgrade_gate_passes_a_database_behind_and_stops_a_hand_change(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url: URL = request.getfixturevalue(URLS[dialect])
    migrate(url, "a1")
    flags = ["--url", plain_url(url), *FLAGS]

    gate = run_driftwatch("check", "--fail-on", "drift", *flags, cwd=tmp_path)
    post_deploy = run_driftwatch("check", *flags, cwd=tmp_path)

    assert gate.returncode == 0, gate.stdout + gate.stderr  # behind is what the upgrade is for
    assert "2 differences: 2 pending (full comparison, replay)" in gate.stdout
    assert "=> IN SYNC" in gate.stdout
    assert post_deploy.returncode == 1  # the default fails on the revision state
    assert "=> OUT OF SYNC: behind, 2 pending" in post_deploy.stdout

    execute(url, "CREATE INDEX ix_hand_made ON users (email)")
    stopped = run_driftwatch(
        "check", "--fail-on", "drift", "--format", "json", *flags, cwd=tmp_path
    )

    assert stopped.returncode == 1
    [target] = json.loads(stopped.stdout)["targets"]
    drift = [f for f in target["schema"]["findings"] if f["attribution"] == "drift"]
    assert [(f["kind"], f["name"]) for f in drift] == [("extra_index", "ix_hand_made")]
    assert target["schema"]["counts_by_attribution"] == {"drift": 1, "pending": 2}
    pending = {f["name"] or f["table"]: f["revision"] for f in target["schema"]["findings"]
               if f["attribution"] == "pending"}  # fmt: skip
    assert pending == {"orders": "b2", "active": "c3"}


def test_fail_on_unmigrated_and_error_categories(sqlite_url: URL, tmp_path: Path) -> None:
    """`unmigrated` fails a database at head whose models hold what no migration makes;
    without `error`, a target that cannot be checked does not decide the exit code."""
    migrate(sqlite_url, "head")
    ahead = "tests.integration.test_attribution:ahead_metadata"
    flags = ["--url", plain_url(sqlite_url), "--script-location", str(SHOP / "migrations")]

    default = run_driftwatch("check", *flags, "--metadata", ahead, cwd=tmp_path)
    ticket = run_driftwatch(
        "check", "--fail-on", "unmigrated", *flags, "--metadata", ahead, cwd=tmp_path
    )
    missing = str(tmp_path / "nowhere.db")
    unchecked = run_driftwatch(
        "check", "--fail-on", "drift", "--url", f"sqlite:///{missing}", *FLAGS, cwd=tmp_path
    )

    assert default.returncode == 0, default.stdout + default.stderr
    assert "unmigrated: in the models, but no migration produces it" in default.stdout
    assert ticket.returncode == 1
    assert unchecked.returncode == 0
    assert "COULD NOT CHECK" in unchecked.stdout
