"""`driftwatch check` on a project with migration scripts but no models: the revision is
checked, the schema is not, and the report never says "in sync" as if it had been."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import SHOP, SHOP_METADATA, migrate, plain_url, run_driftwatch

SCRIPTS = str(SHOP / "migrations")
WHY = "no models configured (metadata)"
DEMANDING = ["--fail-on", "revision,drift,error,not_compared"]


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(dialect: str, request: pytest.FixtureRequest) -> URL:
    """A database of `dialect` migrated to the shop's head."""
    fixture = {"sqlite": "sqlite_url", "postgresql": "pg_url"}[dialect]
    database: URL = request.getfixturevalue(fixture)
    migrate(database, "head")
    return database


def scripts_only(url: URL) -> list[str]:
    return ["--url", plain_url(url), "--script-location", SCRIPTS]


def test_without_models_the_text_says_the_schema_was_not_compared(url: URL, tmp_path: Path) -> None:
    """By default: exit 0 on the revision, nothing on stderr, and both the schema line and the
    verdict say the schema was not compared."""
    result = run_driftwatch("check", *scripts_only(url), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[1] == "  revision  at head"
    assert lines[3] == f"  schema    not compared: {WHY}"
    assert lines[4].startswith("  => IN SYNC (revision only; schema not compared)  (")
    assert lines[-1] == (
        "1 target: 1 in sync, 0 out of sync, 0 could not be checked; 1 schema not compared"
    )


def test_fail_on_not_compared_exits_2_without_models(url: URL, tmp_path: Path) -> None:
    """A gate that demands the comparison fails as could-not-check, with one line saying why."""
    result = run_driftwatch("check", *scripts_only(url), *DEMANDING, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"driftwatch: target 'default': schema not compared: {WHY}"
    ]
    assert "  => COULD NOT CHECK: target 'default': schema not compared" in result.stdout


def test_fail_on_all_demands_the_comparison_too(url: URL, tmp_path: Path) -> None:
    """`all` is every category, `not_compared` included."""
    result = run_driftwatch("check", *scripts_only(url), "--fail-on", "all", cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr


def test_the_json_schema_status_is_not_compared(url: URL, tmp_path: Path) -> None:
    """The JSON's schema has status not_compared, the reason, and no in_sync verdict; with the
    demanding fail-on the document's exit code and the target's error say so too."""
    default = run_driftwatch("check", *scripts_only(url), "--format", "json", cwd=tmp_path)
    demanding = run_driftwatch(
        "check", *scripts_only(url), "--format", "json", *DEMANDING, cwd=tmp_path
    )

    assert default.returncode == 0, default.stderr
    document = json.loads(default.stdout)
    [target] = document["targets"]
    assert target["schema"]["status"] == "not_compared"
    assert target["schema"]["compared"] is False
    assert target["schema"]["skipped_reason"] == WHY
    assert target["schema"]["in_sync"] is None
    assert (target["status"], target["error"]) == ("in_sync", None)

    assert demanding.returncode == 2
    document = json.loads(demanding.stdout)
    [target] = document["targets"]
    assert "not_compared" in document["fail_on"]
    assert (document["status"], document["exit_code"]) == ("error", 2)
    assert target["status"] == "error"
    assert target["error"] == f"target 'default': schema not compared: {WHY}"


def test_with_models_the_demanding_gate_passes(url: URL, tmp_path: Path) -> None:
    """The same database with its models named: compared, in sync, exit 0 under the gate."""
    result = run_driftwatch(
        "check", *scripts_only(url), "--metadata", SHOP_METADATA, *DEMANDING, cwd=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "  schema    matches the models (full comparison, replay)" in result.stdout
    assert "not compared" not in result.stdout
