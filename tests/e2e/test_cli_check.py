"""`driftwatch check` as a user runs it: the installed console script in a subprocess, real
databases, configuration from flags, TOML, the environment, .env or nothing but alembic.ini."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import (
    SHOP,
    SHOP_BRANCHES,
    SHOP_METADATA,
    SHOP_VERSIONS,
    branched_config,
    execute,
    migrate,
    plain_url,
    run_driftwatch,
)

SCRIPTS = str(SHOP / "migrations")


def shop_flags(url: URL) -> list[str]:
    return ["--url", plain_url(url), "--script-location", SCRIPTS, "--metadata", SHOP_METADATA]


def check_json(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, Any]:
    result = run_driftwatch("check", "--format", "json", *args, cwd=cwd, env=env)
    return result.returncode, json.loads(result.stdout)


def test_in_sync_text_and_exit_0(any_url: URL, tmp_path: Path) -> None:
    """A database at head with matching models: text report, exit 0, nothing on stderr. The
    comparison replays the migrations where a scratch database is had (SQLite in memory,
    PostgreSQL's embedded server), is alembic's on MySQL without scratch_url, and says so."""
    migrate(any_url, "head")

    result = run_driftwatch("check", *shop_flags(any_url), cwd=tmp_path)
    method = "alembic" if any_url.get_backend_name() == "mysql" else "replay"

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[default] ")
    assert lines[1] == "  revision  at head"
    assert lines[3] == f"  schema    matches the models (full comparison, {method})"
    assert lines[-1] == "1 target: 1 in sync, 0 out of sync, 0 could not be checked"


def test_drift_text_and_exit_1(any_url: URL, tmp_path: Path) -> None:
    """Behind and drifted: revision first, findings grouped by attribution then table,
    summary; exit 1. With a replay (PostgreSQL, SQLite) the table made by hand is drift and
    the pending migration's column is pending, named with its revision; without one (MySQL,
    no scratch database) both are differences from the models, unattributed."""
    migrate(any_url, "b2")
    execute(any_url, "CREATE TABLE coupons (id INTEGER PRIMARY KEY)")

    result = run_driftwatch("check", *shop_flags(any_url), cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    out = result.stdout
    replayed = any_url.get_backend_name() != "mysql"
    assert out.index("revision  BEHIND: 1 migration pending") < out.index("pending  c3")
    assert out.index("pending  c3  add users.active") < out.index("schema    2 differences")
    coupons = next(line for line in out.splitlines() if line.strip().endswith(".coupons"))
    users = next(line for line in out.splitlines() if line.strip().endswith(".users"))
    assert out.index(coupons) < out.index(users)
    assert "extra_table" in out.split(coupons)[1].split(users)[0]
    active = next(line for line in out.split(users)[1].splitlines() if "active" in line)
    assert active.split()[:2] == ["missing_column", "active"]
    if replayed:
        assert "schema    2 differences: 1 drift, 1 pending (full comparison, replay)" in out
        drift = "  drift: the database is not what its revision's migrations produce"
        pending = "  pending: what the migrations not yet run will change"
        assert out.index(drift) < out.index(coupons) < out.index(pending) < out.index(users)
        assert "database: table" in out.split(coupons)[1].split(pending)[0]
        assert "at head: " in active and active.endswith("; by c3")
        assert "=> OUT OF SYNC: behind, 1 drift, 1 pending" in out
    else:
        assert "schema    2 differences (full comparison, alembic)" in out
        assert "drift:" not in out and "pending:" not in out
        assert "models: " in active
        assert "=> OUT OF SYNC: behind, 2 schema difference(s)" in out


def test_json_report(any_url: URL, tmp_path: Path) -> None:
    """--format json prints one JSON document with schema_version, states and findings."""
    migrate(any_url, "head")
    execute(any_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")

    code, data = check_json(*shop_flags(any_url), cwd=tmp_path)

    assert code == 1
    assert data["schema_version"] == 2
    assert (data["status"], data["exit_code"]) == ("out_of_sync", 1)
    (target,) = data["targets"]
    assert target["dialect"] == any_url.get_backend_name()
    assert target["revision"]["state"] == "at_head"
    (finding,) = target["schema"]["findings"]
    assert (finding["kind"], finding["table"], finding["name"]) == (
        "extra_column",
        "users",
        "nickname",
    )
    assert set(finding) == {
        "kind",
        "severity",
        "schema",
        "table",
        "name",
        "expected",
        "actual",
        "message",
        "attribution",
        "revision",
        "fix",
    }
    # at head, a column added by hand: drift once the migrations are replayed (not on MySQL
    # without a scratch database, where the models alone are compared)
    replayed = any_url.get_backend_name() != "mysql"
    assert (finding["attribution"], finding["revision"]) == (
        "drift" if replayed else "unattributed",
        None,
    )
    assert target["schema"]["method"] == ("replay" if replayed else "alembic")
    # the SQL that puts the revision's state back; none through alembic's comparison
    assert ("DROP COLUMN nickname" in (finding["fix"] or "")) is replayed
    assert target["schema"]["counts_by_attribution"] == {finding["attribution"]: 1}
    assert target["schema"]["in_sync"] is False


@pytest.mark.parametrize(
    ("fail_on", "schema_drift_exit", "revision_drift_exit"),
    [
        ([], 1, 1),
        (["--fail-on", "all"], 1, 1),
        (["--fail-on", "revision,schema"], 1, 1),
        (["--fail-on", "revision"], 0, 1),
        (["--fail-on", "schema"], 1, 0),
        (["--fail-on", "revision", "--fail-on", "schema"], 1, 1),
    ],
    ids=["default", "all", "both_comma", "revision", "schema", "both_repeated"],
)
def test_fail_on(
    sqlite_url: URL,
    tmp_path: Path,
    fail_on: list[str],
    schema_drift_exit: int,
    revision_drift_exit: int,
) -> None:
    """--fail-on revision ignores schema drift; --fail-on schema ignores the revision state."""
    migrate(sqlite_url, "head")
    execute(sqlite_url, "CREATE TABLE coupons (id INTEGER PRIMARY KEY)")
    schema_only = run_driftwatch("check", *shop_flags(sqlite_url), *fail_on, cwd=tmp_path)
    assert schema_only.returncode == schema_drift_exit, schema_only.stdout

    execute(sqlite_url, "DROP TABLE coupons")
    migrate(sqlite_url, "d4left", config=branched_config())
    (tmp_path / "driftwatch.toml").write_text(
        "[[targets]]\n"
        'name = "shop"\n'
        f'url = "{plain_url(sqlite_url)}"\n'
        f'script_location = "{SCRIPTS}"\n'
        f'version_locations = ["{SHOP_VERSIONS}", "{SHOP_BRANCHES}"]\n'
        f'metadata = "{SHOP_METADATA}"\n'
    )
    revision_only = run_driftwatch("check", *fail_on, cwd=tmp_path)
    assert "PARTIALLY APPLIED" in revision_only.stdout
    assert revision_only.returncode == revision_drift_exit, revision_only.stdout


def write_config(path: Path, targets: list[dict[str, Any]], **top: Any) -> Path:
    """A driftwatch.toml; values are written with json.dumps, which TOML reads for these."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in top.items()]
    for target in targets:
        lines.append("[[targets]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in target.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def shop_entry(name: str, url: URL, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "url": plain_url(url),
        "script_location": SCRIPTS,
        "metadata": SHOP_METADATA,
    }
    entry.update(fields)
    return entry


def test_several_targets_each_reported_worst_exit_code(
    pg_url: URL, mysql_url: URL, sqlite_url: URL, tmp_path: Path
) -> None:
    """A TOML file with three targets: each is reported, and the exit code is the worst one."""
    for url in (pg_url, mysql_url, sqlite_url):
        migrate(url, "head")
    execute(mysql_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")
    config = write_config(
        tmp_path / "three.toml",
        [
            shop_entry("pg", pg_url),
            shop_entry("maria", mysql_url),
            shop_entry("lite", sqlite_url),
        ],
        concurrency=3,
    )

    code, data = check_json("--config", str(config), cwd=tmp_path)
    assert code == 1
    assert {t["name"]: t["status"] for t in data["targets"]} == {
        "pg": "in_sync",
        "maria": "out_of_sync",
        "lite": "in_sync",
    }

    gone = sqlite_url.set(database=f"{sqlite_url.database}.gone")
    write_config(
        config, [shop_entry("pg", pg_url), shop_entry("maria", mysql_url), shop_entry("x", gone)]
    )
    result = run_driftwatch("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.count("\n[") == 2 and result.stdout.startswith("[pg]")
    assert result.stdout.rstrip().endswith(
        "3 targets: 1 in sync, 1 out of sync, 1 could not be checked"
    )
    assert len(result.stderr.splitlines()) == 1

    only = run_driftwatch("check", "--config", str(config), "--target", "pg", cwd=tmp_path)
    assert only.returncode == 0
    assert only.stdout.startswith("[pg]")
    assert "[maria]" not in only.stdout


def test_zero_config_database_url_and_alembic_ini(any_url: URL, tmp_path: Path) -> None:
    """No driftwatch config at all: DATABASE_URL and ./alembic.ini ([driftwatch] metadata)."""
    migrate(any_url, "head")
    shutil.copytree(SHOP / "migrations", tmp_path / "migrations")
    (tmp_path / "alembic.ini").write_text(
        "[alembic]\nscript_location = %(here)s/migrations\n\n"
        f"[driftwatch]\nmetadata = {SHOP_METADATA}\n"
    )

    # the application's own URL, with its own (sync) driver: driftwatch picks the async one
    app_url = plain_url(any_url.set(drivername=any_url.get_backend_name()))

    result = run_driftwatch("check", cwd=tmp_path, env={"DATABASE_URL": app_url})

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("[default] ")
    assert "matches the models" in result.stdout


def test_zero_config_database_url_from_dotenv(sqlite_url: URL, tmp_path: Path) -> None:
    """DATABASE_URL may live in the project's .env next to alembic.ini."""
    migrate(sqlite_url, "a1")
    (tmp_path / "alembic.ini").write_text(
        f"[alembic]\nscript_location = {SCRIPTS}\n\n[driftwatch]\nmetadata = {SHOP_METADATA}\n"
    )
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{sqlite_url.database}\nOTHER=1\n")

    result = run_driftwatch("check", cwd=tmp_path)

    assert result.returncode == 1
    assert "BEHIND: 2 migrations pending" in result.stdout


def test_sources_strength_cli_env_dotenv_toml(pg_url: URL, sqlite_url: URL, tmp_path: Path) -> None:
    """--url beats the environment's targets, which beat .env's, which beat driftwatch.toml."""
    migrate(sqlite_url, "head")
    migrate(pg_url, "a1")
    missing = sqlite_url.set(database=f"{sqlite_url.database}.missing")
    write_config(tmp_path / "driftwatch.toml", [shop_entry("from_toml", missing)])

    assert run_driftwatch("check", cwd=tmp_path).returncode == 2

    dotenv_targets = json.dumps([shop_entry("from_dotenv", sqlite_url)])
    (tmp_path / ".env").write_text(f"DRIFTWATCH_TARGETS='{dotenv_targets}'\n")
    from_dotenv = run_driftwatch("check", cwd=tmp_path)
    assert (from_dotenv.returncode, from_dotenv.stdout[:13]) == (0, "[from_dotenv]")

    env = {"DRIFTWATCH_TARGETS": json.dumps([shop_entry("from_env", pg_url)])}
    from_env = run_driftwatch("check", cwd=tmp_path, env=env)
    assert (from_env.returncode, from_env.stdout[:10]) == (1, "[from_env]")

    from_flag = run_driftwatch("check", "--url", plain_url(sqlite_url), cwd=tmp_path, env=env)
    assert from_flag.returncode == 0, from_flag.stdout
    assert from_flag.stdout.startswith("[from_env] sqlite+aiosqlite:")


def test_password_is_masked_in_text_json_and_stderr(pg_url: URL, tmp_path: Path) -> None:
    """A real role's password shows as *** in text, JSON and error lines, never in clear."""
    password = "Pw-9d1e@x:y"
    role = f"dw_cli_{pg_url.database}"
    execute(
        pg_url,
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
    )
    try:
        migrate(pg_url, "head")
        execute(pg_url, f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        url = pg_url.set(username=role, password=password)
        runs = [
            run_driftwatch("check", *shop_flags(url), cwd=tmp_path),
            run_driftwatch("check", "--format", "json", *shop_flags(url), cwd=tmp_path),
            run_driftwatch("check", *shop_flags(url.set(database="dw_no_such_db")), cwd=tmp_path),
        ]
    finally:
        execute(pg_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}")

    assert [r.returncode for r in runs] == [0, 0, 2]
    encoded = urllib.parse.quote(password, safe="")
    for run in runs:
        for stream in (run.stdout, run.stderr):
            assert password not in stream
            assert encoded not in stream
    assert f"{role}:***@127.0.0.1" in runs[0].stdout
    assert json.loads(runs[1].stdout)["targets"][0]["url"].startswith(
        f"postgresql+asyncpg://{role}:***@"
    )
    assert f"{role}:***@" in runs[2].stderr


@pytest.mark.parametrize("run_in", ["project", "elsewhere"])
def test_project_with_its_own_models_package(sqlite_url: URL, tmp_path: Path, run_in: str) -> None:
    """A typical project: models in its own package found through alembic.ini's
    prepend_sys_path = ., relative script_location; run in it, or from elsewhere."""
    migrate(sqlite_url, "head")
    project = tmp_path / "project"
    (project / "myshop").mkdir(parents=True)
    (project / "myshop" / "__init__.py").write_text("")
    shutil.copy(SHOP / "models.py", project / "myshop" / "models.py")
    shutil.copytree(SHOP / "migrations", project / "migrations")
    (project / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\nprepend_sys_path = .\n\n"
        "[driftwatch]\nmetadata = myshop.models:metadata\n"
    )
    (tmp_path / "elsewhere").mkdir()
    args = ["--alembic-ini", str(project / "alembic.ini")] if run_in == "elsewhere" else []

    result = run_driftwatch(
        "check",
        *args,
        cwd=tmp_path / run_in,
        env={"DATABASE_URL": f"sqlite:///{sqlite_url.database}"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches the models" in result.stdout
