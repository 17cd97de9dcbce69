"""The Control Plane's migrations, driven through the real `alembic` command as the migration
guide (docs/control-plane-migrations.md) uses it, against real databases: every check reads
the database's state afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import CommandLine
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from control_plane.config import Settings
from control_plane.db import init_models
from control_plane.migrations import alembic_config, context_options
from control_plane.models import metadata
from tests.conftest import REPO_ROOT
from tests.support.servers import (
    Server,
    create_database,
    drop_database,
    new_database_name,
    unavailable,
)
from tests.support.tools import doc_text, inline_code_spans, shell_code_blocks

SCRIPTS = ScriptDirectory.from_config(alembic_config(REPO_ROOT / "alembic.ini"))
# oldest first: base -> ... -> head
REVISIONS = [script.revision for script in SCRIPTS.walk_revisions()][::-1]
HEAD = SCRIPTS.get_current_head()
MODEL_TABLES = set(metadata.tables)
PG_ENUMS = {"agent_status", "run_status", "task_status", "policy_effect"}
NOWHERE = "postgresql+asyncpg://postgres:postgres@127.0.0.1:1/nowhere"


def rendered(url: URL | str) -> str:
    return url.render_as_string(hide_password=False) if isinstance(url, URL) else url


def alembic(
    *args: str, url: URL | str, cwd: Path = REPO_ROOT, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `alembic <args>` as a user would, with DATABASE_URL set; fail with its output."""
    env = {key: value for key, value in os.environ.items() if key != "ALEMBIC_CONFIG"}
    env["DATABASE_URL"] = rendered(url)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"alembic {' '.join(args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def on_connection(url: URL | str, work: Any) -> Any:
    """Run `work(sync_connection)` on the database, as alembic's async env.py does."""

    async def run() -> Any:
        engine = create_async_engine(url, poolclass=sa.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _version_rows(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def _table_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def _schema(connection: Connection) -> dict[str, Any]:
    """The reflected schema, normalized for comparison (column order is ignored)."""
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "alembic_version":
            continue
        columns = {
            column["name"]: (
                str(column["type"].compile(dialect=dialect)),
                column["nullable"],
                column.get("default"),
                column.get("comment"),
            )
            for column in inspector.get_columns(table)
        }
        tables[table] = {
            "columns": columns,
            "primary_key": inspector.get_pk_constraint(table),
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (unique["name"], tuple(unique["column_names"]))
                for unique in inspector.get_unique_constraints(table)
            ),
            "foreign_keys": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "checks": sorted(
                (check["name"], check["sqltext"])
                for check in inspector.get_check_constraints(table)
            ),
            "comment": (
                inspector.get_table_comment(table)["text"] if dialect.supports_comments else None
            ),
        }
    enums = (
        sorted((enum["name"], tuple(enum["labels"])) for enum in inspector.get_enums())
        if dialect.name == "postgresql"
        else []
    )
    return {"tables": tables, "enums": enums}


def _autogenerate_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts=context_options(connection.dialect.name))
    return compare_metadata(context, metadata)


@contextmanager
def fresh_database(server: Server | str) -> Iterator[URL]:
    """An empty database of its own on `server`, dropped afterwards."""
    if isinstance(server, str):
        unavailable(server)
        raise AssertionError("unreachable")
    name = new_database_name()
    url = create_database(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


@pytest.fixture(params=["postgresql", "sqlite", "mysql"])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[URL, URL]]:
    """Two empty databases on the same server, on each dialect in turn."""
    if request.param == "sqlite":
        yield (
            make_url(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}"),
            make_url(f"sqlite+aiosqlite:///{tmp_path / 'two.db'}"),
        )
        return
    server = request.getfixturevalue("pg_server" if request.param == "postgresql" else "my_server")
    with fresh_database(server) as first, fresh_database(server) as second:
        yield first, second


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the Control Plane's migration project to change freely."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "alembic", copy / "alembic", ignore=ignore)
    shutil.copytree(
        REPO_ROOT / "src" / "control_plane", copy / "src" / "control_plane", ignore=ignore
    )
    shutil.copy2(REPO_ROOT / "alembic.ini", copy / "alembic.ini")
    return copy


def test_history_has_several_small_steps() -> None:
    """The scripts form one linear history of at least three revisions with a single head."""
    assert len(REVISIONS) >= 3
    assert SCRIPTS.get_heads() == [REVISIONS[-1]]
    for older, newer in pairwise(REVISIONS):
        assert SCRIPTS.get_revision(newer).down_revision == older


GUIDE = doc_text("control-plane-migrations.md")
# `alembic ...` where a shell runs it: line start, a prompt, or after an environment assignment
_ALEMBIC = re.compile(r"(?:^\s*|\$ |^[A-Z_]+=\S+ )alembic\s+([^#\n]*)", re.MULTILINE)


def guide_alembic_commands() -> list[list[str]]:
    """The argument lists the migration guide gives `alembic`, in code blocks and prose."""
    found = []
    flush = re.sub(r"^ +", "", GUIDE, flags=re.MULTILINE)  # fences indented in lists too
    for snippet in [*shell_code_blocks(flush), *inline_code_spans(flush)]:
        for match in _ALEMBIC.findall(snippet):
            argv = shlex.split(match)
            if ">" in argv:  # `--sql > pending.sql`: the shell's, not alembic's
                argv = argv[: argv.index(">")]
            if "..." not in argv:  # `alembic -c path/to/alembic.ini ...` elides the command
                found.append(argv)
    return found


def test_guide_commands_are_alembics_and_name_real_revisions() -> None:
    """Every `alembic` command line of docs/control-plane-migrations.md parses with alembic's
    own command line, and every revision it names is one of the scripts (or a prefix of one)."""
    commands = guide_alembic_commands()
    assert ["upgrade", "head"] in commands
    assert ["downgrade", "-1"] in commands
    assert len(commands) >= 20
    parser = CommandLine(prog="alembic").parser
    for argv in commands:
        errors = io.StringIO()
        try:
            with contextlib.redirect_stderr(errors):
                parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"alembic {shlex.join(argv)}: {errors.getvalue()}")
        if argv[0] in {"upgrade", "downgrade", "stamp"}:
            for part in argv[1].split(":"):
                known = part in {"head", "base"} or re.fullmatch(r"[+-]\d+|<\w+>", part)
                assert known or any(r.startswith(part) for r in REVISIONS), argv
    named = set(re.findall(r"\b[0-9a-f]{12}\b", GUIDE))
    assert named == set(REVISIONS), "the guide's history is the scripts' history"


def test_guide_test_command_names_existing_files() -> None:
    """The guide's own test command runs test files that exist (this one among them)."""
    section = GUIDE[GUIDE.index("\n## Tests\n") :]
    paths = re.findall(r"\btests/[\w/]+\.py\b", section)
    assert "tests/integration/test_control_plane_migrations.py" in paths
    for path in paths:
        assert (REPO_ROOT / path).is_file(), path


@pytest.mark.postgres
def test_guide_commands_on_postgresql(pg_url: URL) -> None:
    """upgrade head, current, history, downgrade -1, downgrade <rev>, upgrade <rev> and upgrade
    head do what the guide says, judged by the version table and the tables present."""
    alembic("upgrade", "head", url=pg_url)
    assert on_connection(pg_url, _version_rows) == {HEAD}
    assert on_connection(pg_url, _table_names) == MODEL_TABLES | {"alembic_version"}

    current = alembic("current", url=pg_url).stdout
    assert f"{HEAD} (head)" in current

    history = alembic("history", url=pg_url).stdout
    for script in SCRIPTS.walk_revisions():
        assert script.revision in history
        assert script.doc in history

    alembic("downgrade", "-1", url=pg_url)
    assert on_connection(pg_url, _version_rows) == {REVISIONS[-2]}
    assert "ix_audit_log_actor" not in {
        index["name"]
        for index in on_connection(pg_url, lambda c: sa.inspect(c).get_indexes("audit_log"))
    }

    alembic("downgrade", REVISIONS[0], url=pg_url)
    assert on_connection(pg_url, _version_rows) == {REVISIONS[0]}
    assert "policies" not in on_connection(pg_url, _table_names)

    alembic("upgrade", REVISIONS[2], url=pg_url)
    assert on_connection(pg_url, _version_rows) == {REVISIONS[2]}
    assert "policies" in on_connection(pg_url, _table_names)

    alembic("upgrade", "head", url=pg_url)
    assert on_connection(pg_url, _version_rows) == {HEAD}
    assert on_connection(pg_url, _table_names) == MODEL_TABLES | {"alembic_version"}


def test_full_cycle_on_sqlite(sqlite_url: URL) -> None:
    """On SQLite (batch mode) the history goes up to head, all the way down, and up again."""
    alembic("upgrade", "head", url=sqlite_url)
    assert on_connection(sqlite_url, _version_rows) == {HEAD}
    assert on_connection(sqlite_url, _table_names) == MODEL_TABLES | {"alembic_version"}

    alembic("downgrade", "base", url=sqlite_url)
    assert on_connection(sqlite_url, _version_rows) == set()
    assert on_connection(sqlite_url, _table_names) == {"alembic_version"}

    alembic("upgrade", "head", url=sqlite_url)
    assert on_connection(sqlite_url, _version_rows) == {HEAD}


def test_offline_sql_needs_no_database() -> None:
    """`upgrade head --sql` and a downgrade range with --sql print the DDL while DATABASE_URL
    names a server that does not exist."""
    upgrade = alembic("upgrade", "head", "--sql", url=NOWHERE).stdout
    assert "CREATE TABLE workspaces" in upgrade
    assert "CREATE TYPE agent_status AS ENUM" in upgrade
    assert f"UPDATE alembic_version SET version_num='{HEAD}'" in upgrade

    downgrade = alembic("downgrade", f"{HEAD}:base", "--sql", url=NOWHERE).stdout
    assert "DROP TABLE workspaces" in downgrade
    assert "DROP TYPE IF EXISTS agent_status" in downgrade


def test_explicit_url_wins_over_database_url(sqlite_url: URL) -> None:
    """`-x url=...` takes precedence over DATABASE_URL (here: a server that does not exist)."""
    alembic("-x", f"url={rendered(sqlite_url)}", "upgrade", "head", url=NOWHERE)
    assert on_connection(sqlite_url, _version_rows) == {HEAD}


def test_models_match_head(any_url: URL) -> None:
    """After `upgrade head` autogenerate finds nothing to do: the models describe the head."""
    alembic("upgrade", "head", url=any_url)
    assert on_connection(any_url, _autogenerate_diff) == []


def test_init_models_builds_the_head_schema(two_urls: tuple[URL, URL]) -> None:
    """`init_models()` and `alembic upgrade head` produce the same reflected schema."""
    migrated, created = two_urls
    alembic("upgrade", "head", url=migrated)
    asyncio.run(init_models(settings=Settings(database_url=rendered(created))))
    assert on_connection(created, _schema) == on_connection(migrated, _schema)


@pytest.mark.postgres
def test_every_downgrade_undoes_its_upgrade(pg_url: URL) -> None:
    """Stairway: walking up one revision at a time and back down again, the schema after each
    `downgrade -1` equals the schema before the matching `upgrade +1` (tables, columns, types,
    defaults, indexes, constraints with ON DELETE rules, checks, comments, enum types)."""
    explicit = f"url={rendered(pg_url)}"
    before_upgrade: list[dict[str, Any]] = []
    for _ in REVISIONS:
        before_upgrade.append(on_connection(pg_url, _schema))
        alembic("-x", explicit, "upgrade", "+1", url=NOWHERE)
    assert on_connection(pg_url, _version_rows) == {HEAD}
    assert {name for name, _ in on_connection(pg_url, _schema)["enums"]} == PG_ENUMS

    for revision, expected in zip(reversed(REVISIONS), reversed(before_upgrade), strict=True):
        alembic("-x", explicit, "downgrade", "-1", url=NOWHERE)
        assert on_connection(pg_url, _schema) == expected, f"downgrade of {revision}"
    assert on_connection(pg_url, _version_rows) == set()
    assert on_connection(pg_url, _schema) == {"tables": {}, "enums": []}


@pytest.mark.postgres
def test_autogenerate_detects_a_model_change(project_copy: Path, pg_url: URL) -> None:
    """In a copy of the project, a column added to the models comes out of
    `revision --autogenerate` as an add_column in a new migration, which then applies."""
    models = project_copy / "src" / "control_plane" / "models.py"
    anchor = "    slug: str = Field(max_length=63, unique=True, index=True)\n"
    source = models.read_text()
    assert anchor in source
    models.write_text(
        source.replace(
            anchor, anchor + "    region: str | None = Field(default=None, max_length=32)\n"
        )
    )
    copy_src = project_copy / "src"

    alembic("upgrade", "head", url=pg_url, cwd=project_copy, pythonpath=copy_src)
    output = alembic(
        "revision",
        "--autogenerate",
        "-m",
        "Add region to workspaces",
        url=pg_url,
        cwd=project_copy,
        pythonpath=copy_src,
    )
    created = sorted((project_copy / "alembic" / "versions").glob("*_add_region_to_workspaces.py"))
    assert len(created) == 1, output.stdout + output.stderr
    migration = created[0].read_text()
    assert re.search(
        r"op\.add_column\(\s*['\"]workspaces['\"],\s*sa\.Column\(\s*['\"]region", migration
    )
    assert f"down_revision: Union[str, Sequence[str], None] = {HEAD!r}" in migration
    assert not list((REPO_ROOT / "alembic" / "versions").glob("*_add_region_to_workspaces.py"))

    alembic("upgrade", "head", url=pg_url, cwd=project_copy, pythonpath=copy_src)
    columns = on_connection(pg_url, lambda c: sa.inspect(c).get_columns("workspaces"))
    assert "region" in {column["name"] for column in columns}


def test_merge_joins_two_branches(project_copy: Path, sqlite_url: URL) -> None:
    """Two revisions made on the same parent give two heads; `merge` joins them into one head
    that `upgrade head` reaches, passing through both branches."""

    def run(*args: str) -> str:
        return alembic(*args, url=sqlite_url, cwd=project_copy).stdout

    run("revision", "-m", "Branch a", "--rev-id", "branch_a")
    run("revision", "-m", "Branch b", "--rev-id", "branch_b", "--head", HEAD, "--splice")
    assert sorted(re.findall(r"^(\w+) \(head\)", run("heads"), re.MULTILINE)) == [
        "branch_a",
        "branch_b",
    ]

    run("merge", "-m", "Merge branch", "--rev-id", "merge_ab", "branch_a", "branch_b")
    assert re.findall(r"^(\w+) \(head\)", run("heads"), re.MULTILINE) == ["merge_ab"]

    run("upgrade", "head")
    assert on_connection(sqlite_url, _version_rows) == {"merge_ab"}
    assert "Merge branch" in run("history")
