"""Bad input to `driftwatch check`: exactly one line on stderr, no traceback, exit 2, and no
password anywhere. Each case runs the installed console script in a subprocess."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomysql
import pytest
from sqlalchemy.engine import URL

from tests.support.scenarios import (
    SHOP,
    SHOP_METADATA,
    execute,
    migrate,
    plain_url,
    run_driftwatch,
)

SCRIPTS = str(SHOP / "migrations")
PASSWORD = "Pw-e2e-3f9b"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # written in the working directory


def expect_one_line_error(result: subprocess.CompletedProcess[str], *says: str) -> str:
    """The contract for bad input: exit 2, one stderr line starting 'driftwatch: ', no secret."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("driftwatch: ")
    assert "Traceback" not in result.stderr + result.stdout
    for phrase in says:
        assert phrase in line, line
    for stream in (result.stdout, result.stderr):
        assert PASSWORD not in stream
    return line


def flags(url: str, *extra: str) -> list[str]:
    scripts = ["--script-location", SCRIPTS, "--metadata", SHOP_METADATA]
    return ["check", "--url", url, *scripts, *extra]


def with_password(url: URL) -> str:
    """The URL with a password to keep secret; MariaDB's root has none and would refuse one."""
    if url.get_backend_name() == "mysql":
        return plain_url(url)
    return plain_url(url.set(password=PASSWORD))


# --- the database side --------------------------------------------------------------------


def test_unreachable_host(tmp_path: Path) -> None:
    """A port nothing listens on: connection refused."""
    url = f"postgresql://app:{PASSWORD}@127.0.0.1:{closed_port()}/app"

    line = expect_one_line_error(run_driftwatch(*flags(url), cwd=tmp_path), "connection refused")

    assert "app:***@127.0.0.1" in line


@pytest.fixture
def mysql_user(mysql_url: URL) -> Iterator[URL]:
    """A MariaDB user with a password, allowed to read the test database."""
    user = f"dw_e2e_{str(mysql_url.database)[-12:]}"

    async def run(*statements: str) -> None:
        conn = await aiomysql.connect(
            host=mysql_url.host or "127.0.0.1", port=mysql_url.port or 3306, user="root"
        )
        try:
            async with conn.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
        finally:
            conn.close()

    asyncio.run(
        run(
            f"CREATE USER '{user}'@'%' IDENTIFIED BY 'the-right-one'",
            f"GRANT SELECT ON {mysql_url.database}.* TO '{user}'@'%'",
        )
    )
    try:
        yield mysql_url.set(username=user)
    finally:
        asyncio.run(run(f"DROP USER IF EXISTS '{user}'@'%'"))


def test_wrong_password(mysql_url: URL, mysql_user: URL, tmp_path: Path) -> None:
    """A wrong password (MariaDB checks it; local PostgreSQL trusts): authentication failed."""
    migrate(mysql_url, "head")

    result = run_driftwatch(*flags(with_password(mysql_user)), cwd=tmp_path)

    expect_one_line_error(result, f"authentication failed for user '{mysql_user.username}'")


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_missing_database(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A database name the server does not have: '... does not exist'."""
    url: URL = request.getfixturevalue({"postgresql": "pg_url", "mysql": "mysql_url"}[dialect])
    missing = url.set(database="dw_no_such_database")

    result = run_driftwatch(*flags(with_password(missing)), cwd=tmp_path)

    expect_one_line_error(result, "database 'dw_no_such_database' does not exist")


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    """A SQLite path that does not exist is an error, and the file is not created."""
    missing = tmp_path / "absent.db"

    result = run_driftwatch(*flags(f"sqlite:///{missing}"), cwd=tmp_path)

    expect_one_line_error(result, "cannot be opened")
    assert not missing.exists()


def test_database_without_version_table(any_url: URL, tmp_path: Path) -> None:
    """A database never migrated: no alembic version table."""
    execute(any_url, "CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")

    result = run_driftwatch(*flags(with_password(any_url)), cwd=tmp_path)

    expect_one_line_error(result, "the database has no alembic version table")


def test_version_table_holding_garbage(any_url: URL, tmp_path: Path) -> None:
    """A version table with a value that is no revision id: named, and not executed."""
    migrate(any_url, "head")
    execute(any_url, "UPDATE alembic_version SET version_num = 'DROP TABLE users; --'")

    result = run_driftwatch(*flags(with_password(any_url)), cwd=tmp_path)

    expect_one_line_error(result, "holds 1 value(s) that are not revision identifiers")


def test_version_table_of_another_shape(any_url: URL, tmp_path: Path) -> None:
    """A table named alembic_version without version_num: not an alembic version table."""
    execute(any_url, "CREATE TABLE alembic_version (id INTEGER PRIMARY KEY)")

    result = run_driftwatch(*flags(with_password(any_url)), cwd=tmp_path)

    expect_one_line_error(result, "has no version_num column")


# --- the URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"oracle://app:{PASSWORD}@db/app", "unsupported database 'oracle'"),
        (f"nosuchdb+driver://app:{PASSWORD}@db/app", "unsupported database 'nosuchdb'"),
        (f"just text {PASSWORD}", "not a database URL"),
        ("sqlite://", "a SQLite target needs a database file path"),
    ],
    ids=["unknown_backend", "unknown_backend_and_driver", "not_a_url", "sqlite_memory"],
)
def test_unusable_url(tmp_path: Path, url: str, says: str) -> None:
    """A URL driftwatch cannot use is refused before connecting, without echoing it."""
    expect_one_line_error(run_driftwatch(*flags(url), cwd=tmp_path), says)


# --- the expected side: models and scripts -----------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "says"),
    [
        ("no_such_package.models:metadata", "cannot import 'no_such_package.models'"),
        ("tests.scenarios.shop.models", "is not of the form module:attribute"),
        ("tests.scenarios.shop.models:nothing", "no attribute 'nothing'"),
        ("tests.scenarios.shop.models:users", "is a Table, not a MetaData"),
    ],
    ids=["does_not_import", "no_attribute_part", "missing_attribute", "not_a_metadata"],
)
def test_bad_metadata_path(sqlite_url: URL, tmp_path: Path, metadata: str, says: str) -> None:
    """A --metadata that does not name an importable MetaData is refused with the reason."""
    migrate(sqlite_url, "head")
    args = ["check", "--url", plain_url(sqlite_url), "--script-location", SCRIPTS]

    result = run_driftwatch(*args, "--metadata", metadata, cwd=tmp_path)

    expect_one_line_error(result, says)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--script-location", "/nonexistent/migrations", "does not exist"),
        ("--script-location", "no_such_package:migrations", "migration scripts"),
        ("--alembic-ini", "/nonexistent/alembic.ini", "alembic config"),
    ],
    ids=["folder", "package", "alembic_ini"],
)
def test_missing_scripts(
    sqlite_url: URL, tmp_path: Path, option: str, value: str, says: str
) -> None:
    """Scripts that are not there: the location is named."""
    migrate(sqlite_url, "head")

    result = run_driftwatch(
        "check",
        "--url",
        plain_url(sqlite_url),
        option,
        value,
        "--metadata",
        SHOP_METADATA,
        cwd=tmp_path,
    )

    expect_one_line_error(result, says, value.split(":", maxsplit=1)[0])


def test_migration_script_that_does_not_load(sqlite_url: URL, tmp_path: Path) -> None:
    """A syntax error in a migration script is reported on one line, naming the scripts."""
    migrate(sqlite_url, "head")
    scripts = tmp_path / "migrations"
    shutil.copytree(SHOP / "migrations", scripts)
    broken = scripts / "versions" / "c3_add_users_active.py"
    broken.write_text(broken.read_text() + "\ndef oops(:\n")

    result = run_driftwatch(
        "check", "--url", plain_url(sqlite_url), "--script-location", str(scripts), cwd=tmp_path
    )

    expect_one_line_error(result, "migration scripts")


# --- configuration ------------------------------------------------------------------------

GOOD_TARGET = '[[targets]]\nname = "app"\nurl = "sqlite:///app.db"\nscript_location = "m"\n'


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("concurency = 2\n" + GOOD_TARGET, "unknown key(s) concurency"),
        (GOOD_TARGET + "compare_types = true\n", "targets.0.compare_types: unknown key"),
        ("concurrency = 'many'\n" + GOOD_TARGET, "concurrency: Input should be a valid integer"),
        (GOOD_TARGET + "compare_type = 'maybe'\n", "targets.0.compare_type: Input should be"),
        (GOOD_TARGET + "schemas = 3\n", "targets.0.schemas"),
        ("targets = 'x'\n", "targets: Input should be a valid list"),
        ("[[targets]\n", "is not valid TOML"),
    ],
    ids=[
        "unknown_top_level",
        "unknown_in_target",
        "wrong_type_top_level",
        "wrong_type_in_target",
        "wrong_list_in_target",
        "targets_not_a_list",
        "invalid_toml",
    ],
)
def test_bad_config_file(tmp_path: Path, toml: str, says: str) -> None:
    """A bad TOML file is named with the key and the problem."""
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = run_driftwatch("check", "--config", str(config), cwd=tmp_path)

    line = expect_one_line_error(result, says)

    assert str(config) in line


@pytest.mark.parametrize(
    ("case", "says"),
    [
        (Run(args=["check", "--config", "/nonexistent/driftwatch.toml"]), "does not exist"),
        (Run(args=["check"]), "no targets configured"),
        (
            Run(args=["check"], env={"DRIFTWATCH_TARGETS": "[{oops"}),
            "environment or .env",
        ),
        (
            Run(
                args=["check", "--url", "sqlite:///x.db", "--script-location", SCRIPTS],
                env={"DRIFTWATCH_CONCURRENCY": "many"},
            ),
            "concurrency: Input should be a valid integer",
        ),
        (
            Run(args=["check", "--url", "sqlite:///x.db", "--fail-on", "everything"]),
            "--fail-on: unknown category 'everything'",
        ),
        (
            Run(args=["check", "--target", "nope"], files={"driftwatch.toml": GOOD_TARGET}),
            "no target named 'nope' (configured: app)",
        ),
    ],
    ids=[
        "missing_config",
        "nothing_configured",
        "targets_env_not_json",
        "env_wrong_type",
        "unknown_fail_on",
        "unknown_target",
    ],
)
def test_bad_command_line_or_environment(tmp_path: Path, case: Run, says: str) -> None:
    """Flags and variables that make no sense are one clear line."""
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    expect_one_line_error(run_driftwatch(*case.args, cwd=tmp_path, env=case.env), says)


def test_error_lines_are_identical_in_json_mode(any_url: URL, tmp_path: Path) -> None:
    """With --format json stdout stays one JSON document and stderr the same single line."""
    import json  # noqa: PLC0415

    execute(any_url, "CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")
    run: Callable[..., subprocess.CompletedProcess[str]] = run_driftwatch

    text = run(*flags(with_password(any_url)), cwd=tmp_path)
    as_json = run(*flags(with_password(any_url), "--format", "json"), cwd=tmp_path)

    assert expect_one_line_error(text) == expect_one_line_error(as_json)
    data = json.loads(as_json.stdout)
    assert data["exit_code"] == 2
    assert data["targets"][0]["status"] == "error"
