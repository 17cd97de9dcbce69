"""Settings become targets: URLs resolved and switched to async drivers, zero-config, flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from driftwatch.config.loading import Flags, load_settings, with_target_flags
from driftwatch.config.settings import Settings, TargetSettings
from driftwatch.config.targets import build_targets, parse_url
from driftwatch.errors import ConfigError

PASSWORD = "s3cr3t-Pw"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DATABASE_URL or DRIFTWATCH_ variable leaks in from outside; run in an empty folder."""
    for key in list(os.environ):
        if key.startswith("DRIFTWATCH_") or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def settings(*targets: dict[str, Any]) -> Settings:
    return Settings.model_construct(targets=[TargetSettings(**t) for t in targets])


def one(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "script_location": "migrations", **fields}


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg"),
        ("mysql://u@h/db", "mysql+aiomysql"),
        ("mysql+pymysql://u@h/db", "mysql+aiomysql"),
        ("mariadb://u@h/db", "mysql+aiomysql"),
        ("sqlite:///app.db", "sqlite+aiosqlite"),
    ],
)
def test_urls_switch_to_the_async_driver(raw: str, driver: str) -> None:
    """Whatever driver the application uses, driftwatch reads with the async one."""
    assert parse_url(raw, origin="test").drivername == driver


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (f"oracle://u:{PASSWORD}@h/db", "unsupported database 'oracle'"),
        (f"nosuchdb+x://u:{PASSWORD}@h/db", "unsupported database 'nosuchdb'"),
        (f"not a url {PASSWORD}", "not a database URL"),
        ("sqlite://", "needs a database file path"),
        ("sqlite:///:memory:", "needs a database file path"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(raw: str, says: str) -> None:
    """An unusable URL is a one-line ConfigError that never repeats the URL (or password)."""
    with pytest.raises(ConfigError) as caught:
        parse_url(raw, origin="target 'app' url")

    assert says in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_target_fields_come_through(tmp_path: Path) -> None:
    """Every configured field reaches the Target, lists as tuples."""
    (target,) = build_targets(
        settings(
            one(
                url=f"postgresql://app:{PASSWORD}@db:5433/orders",
                version_locations=["v1", "v2"],
                version_table="orders_version",
                version_table_schema="meta",
                metadata=["a.models:metadata", "b.models:metadata"],
                imports=["a.plugins"],
                schemas=["public", "audit"],
                include_tables=["o*"],
                exclude_tables=["tmp_*"],
                compare_type=False,
                compare_server_default=True,
                lock_timeout_seconds=5,
                labels={"team": "payments"},
            )
        )
    )

    assert target.name == "app"
    assert (target.url.host, target.url.port, target.url.database) == ("db", 5433, "orders")
    assert target.dialect == "postgresql"
    assert target.version_locations == ("v1", "v2")
    assert (target.version_table, target.version_table_schema) == ("orders_version", "meta")
    assert target.metadata == ("a.models:metadata", "b.models:metadata")
    assert target.imports == ("a.plugins",)
    assert target.schemas == ("public", "audit")
    assert (target.include_tables, target.exclude_tables) == (("o*",), ("tmp_*",))
    assert (target.compare.compare_type, target.compare.compare_server_default) == (False, True)
    assert target.timeouts.lock_timeout_seconds == 5
    assert dict(target.labels) == {"team": "payments"}


def test_password_is_masked_in_safe_url_and_repr() -> None:
    """The Target keeps the password for connecting but never shows it."""
    (target,) = build_targets(settings(one(url=f"postgresql://app:{PASSWORD}@db/orders")))

    assert target.url.password == PASSWORD
    assert target.safe_url == "postgresql+asyncpg://app:***@db/orders"
    assert PASSWORD not in repr(target)
    assert PASSWORD not in str(target.url)


def test_url_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """url_env names the variable holding the URL; an unset one is a clear error."""
    monkeypatch.setenv("ORDERS_DB", "mysql://u@h/orders")
    (target,) = build_targets(settings(one(url_env="ORDERS_DB")))
    assert target.url.drivername == "mysql+aiomysql"

    monkeypatch.delenv("ORDERS_DB")
    with pytest.raises(ConfigError, match="environment variable ORDERS_DB is not set"):
        build_targets(settings(one(url_env="ORDERS_DB")))


def test_url_from_a_file(tmp_path: Path) -> None:
    """url_file is read and stripped (a mounted secret ends with a newline)."""
    secret = tmp_path / "url"
    secret.write_text(f"postgresql://u:{PASSWORD}@h/db\n")

    (target,) = build_targets(settings(one(url_file=str(secret))))

    assert target.url.database == "db"
    with pytest.raises(ConfigError, match=r"url_file .*absent: No such file"):
        build_targets(settings(one(url_file=str(tmp_path / "absent"))))


def test_a_target_without_url_says_how_to_give_one() -> None:
    """No url, url_env or url_file: the error lists the ways to set one."""
    with pytest.raises(ConfigError, match="no database URL"):
        build_targets(settings(one()))


def test_a_target_without_scripts_is_refused() -> None:
    """A target needs alembic_ini or script_location."""
    with pytest.raises(ConfigError, match="set alembic_ini or script_location"):
        build_targets(settings({"name": "app", "url": "sqlite:///a.db"}))


def test_a_target_of_prebuilt_states_needs_no_scripts(tmp_path: Path) -> None:
    """expected_dir alone stands for the scripts and models; in a file it starts at the
    file's folder, and `--expected-dir` alone makes the zero-configuration target."""
    config = tmp_path / "dw.toml"
    config.write_text('[[targets]]\nname = "app"\nurl = "sqlite:///a.db"\nexpected_dir = "built"\n')

    (target,) = build_targets(load_settings(config))

    assert target.expected_dir == tmp_path / "built"
    assert (target.alembic_ini, target.script_location, target.metadata) == (None, None, ())
    flags = Flags(target={"url": "sqlite:///b.db", "expected_dir": Path("elsewhere")})
    (zero,) = build_targets(load_settings(None, flags))
    assert (zero.name, zero.expected_dir) == ("default", Path("elsewhere"))


# --- zero configuration ------------------------------------------------------------------

INI = """[alembic]
script_location = %(here)s/migrations
{url}
[driftwatch]
metadata = myapp.models:metadata myapp.more:metadata
"""


def test_zero_config_uses_database_url_and_alembic_ini(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No targets: one 'default' target from $DATABASE_URL and ./alembic.ini's [driftwatch]."""
    (tmp_path / "alembic.ini").write_text(INI.format(url=""))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://app:{PASSWORD}@db/app")

    (target,) = build_targets(load_settings())

    assert target.name == "default"
    assert target.alembic_ini == tmp_path / "alembic.ini"
    assert target.metadata == ("myapp.models:metadata", "myapp.more:metadata")
    assert target.url.drivername == "postgresql+asyncpg"
    assert target.url.database == "app"


def test_zero_config_reads_database_url_from_dotenv(tmp_path: Path) -> None:
    """DATABASE_URL may come from the application's .env."""
    (tmp_path / "alembic.ini").write_text(INI.format(url=""))
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///from_dotenv.db\n")

    (target,) = build_targets(load_settings())

    assert target.url.database == "from_dotenv.db"


def test_zero_config_environment_beats_dotenv_and_ini(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$DATABASE_URL wins over .env, which wins over alembic.ini's sqlalchemy.url."""
    (tmp_path / "alembic.ini").write_text(INI.format(url="sqlalchemy.url = sqlite:///ini.db"))
    assert build_targets(load_settings())[0].url.database == "ini.db"

    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///dotenv.db\n")
    assert build_targets(load_settings())[0].url.database == "dotenv.db"

    monkeypatch.setenv("DATABASE_URL", "sqlite:///env.db")
    assert build_targets(load_settings())[0].url.database == "env.db"


def test_zero_config_without_alembic_ini_explains(tmp_path: Path) -> None:
    """With nothing configured and no alembic.ini, the error says what to provide."""
    with pytest.raises(ConfigError, match="no targets configured"):
        build_targets(load_settings())


def test_zero_config_with_flags_instead_of_alembic_ini(tmp_path: Path) -> None:
    """--url and --script-location are enough without any file."""
    overrides = {"url": "sqlite:///x.db", "script_location": "migrations"}

    (target,) = build_targets(load_settings(flags=Flags(target=overrides)))

    assert (target.name, target.script_location, target.alembic_ini) == (
        "default",
        "migrations",
        None,
    )


# --- selection and command-line overrides --------------------------------------------------

TWO = (
    one(name="a", url="sqlite:///a.db"),
    one(name="b", url="sqlite:///b.db", alembic_ini="b.ini", script_location=None, metadata="m:x"),
)


def test_names_select_targets() -> None:
    """--target keeps the named targets; an unknown name lists those configured."""
    assert [t.name for t in build_targets(settings(*TWO), names=("b",))] == ["b"]
    assert [t.name for t in build_targets(settings(*TWO))] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"no target named 'c' \(configured: a, b\)"):
        build_targets(settings(*TWO), names=("c",))


def test_flags_override_the_selected_target() -> None:
    """--url replaces url_env, --script-location replaces alembic_ini, --metadata replaces."""
    configured = settings(
        one(name="b", url_env="B_URL", alembic_ini="b.ini", script_location=None, metadata="x:y")
    )
    overrides = {
        "url": "mysql://u@h/db",
        "script_location": "pkg:migrations",
        "metadata": ["m:metadata"],
        "alembic_ini": None,
    }

    (target,) = build_targets(with_target_flags(configured, Flags(target=overrides)))

    assert target.url.drivername == "mysql+aiomysql"
    assert (target.script_location, target.alembic_ini) == ("pkg:migrations", None)
    assert target.metadata == ("m:metadata",)


def test_flags_with_several_targets_need_target_selection() -> None:
    """A --url with two targets configured is ambiguous unless --target picks one."""
    with pytest.raises(ConfigError, match="--url apply to one target: choose it with --target"):
        with_target_flags(settings(*TWO), Flags(target={"url": "sqlite:///c.db"}))

    flags = Flags(targets=("a",), target={"url": "sqlite:///c.db"})
    (target,) = build_targets(with_target_flags(settings(*TWO), flags), names=("a",))
    assert target.url.database == "c.db"


def test_empty_flags_change_nothing() -> None:
    """Flags not given (None or empty lists) leave the configured target alone."""
    overrides = {"url": None, "alembic_ini": None, "script_location": None, "metadata": []}

    targets = build_targets(with_target_flags(settings(*TWO), Flags(target=overrides)))

    assert [t.name for t in targets] == ["a", "b"]


def test_secret_url_in_settings_is_not_shown() -> None:
    """SecretStr keeps the configured URL out of reprs before it becomes a Target."""
    ts = TargetSettings(**one(url=f"postgresql://u:{PASSWORD}@h/db"))

    assert isinstance(ts.url, SecretStr)
    assert PASSWORD not in repr(ts)


def test_ini_url_is_read_as_alembic_reads_it(tmp_path: Path) -> None:
    """sqlalchemy.url in alembic.ini expands %(here)s and un-doubles '%%', as alembic does."""
    (tmp_path / "alembic.ini").write_text(
        INI.format(url="sqlalchemy.url = sqlite:///%(here)s/app.db")
    )
    assert build_targets(load_settings())[0].url.database == f"{tmp_path.resolve()}/app.db"

    (tmp_path / "alembic.ini").write_text(
        INI.format(url="sqlalchemy.url = postgresql://app:50%%off@db/app")
    )
    assert build_targets(load_settings())[0].url.password == "50%off"


def test_ini_url_with_a_bad_percent_is_refused_without_echoing_it(tmp_path: Path) -> None:
    """An unescaped '%' in sqlalchemy.url is a one-line error that does not show the URL."""
    (tmp_path / "alembic.ini").write_text(
        INI.format(url="sqlalchemy.url = postgresql://app:50%off@db/app")
    )

    with pytest.raises(ConfigError) as caught:
        build_targets(load_settings())

    assert "[alembic] sqlalchemy.url has a bad '%'" in str(caught.value)
    assert "50%off" not in str(caught.value)
    assert "off@db" not in str(caught.value)


def test_libpq_url_parameters_are_translated_for_asyncpg() -> None:
    """An application's psycopg URL works: sslmode becomes ssl, timeout and name are ours."""
    url = parse_url(
        "postgresql://u@h/db?sslmode=require&connect_timeout=5&application_name=app",
        origin="test",
    )

    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "require"}


def test_other_url_parameters_are_kept() -> None:
    """Parameters that are not libpq-only pass through, for every backend."""
    assert dict(parse_url("mysql://u@h/db?charset=utf8mb4", origin="t").query) == {
        "charset": "utf8mb4"
    }
    assert dict(parse_url("postgresql://u@h/db?ssl=prefer", origin="t").query) == {"ssl": "prefer"}


# --- baselines --------------------------------------------------------------------------------

BASELINE_JSON = (
    '{"version": 1, "accepted": [{"kind": "extra_index", "table": "tasks",'
    ' "name": "ix_tasks_report", "reason": "DBA index for the weekly report"}]}'
)


def test_the_baseline_is_read_with_the_configuration(tmp_path: Path) -> None:
    """A target's baseline file is read and validated once, into the Target."""
    path = tmp_path / "baseline.json"
    path.write_text(BASELINE_JSON, encoding="utf-8")

    (target,) = build_targets(settings(one(url="sqlite:///a.db", baseline=str(path))))
    (plain,) = build_targets(settings(one(url="sqlite:///a.db")))

    assert target.baseline is not None
    [entry] = target.baseline.entries
    assert (entry.kind.value, entry.table, entry.name) == (
        "extra_index",
        "tasks",
        "ix_tasks_report",
    )
    assert plain.baseline is None


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "does not exist"),
        ("{", "is not valid JSON"),
        ('{"version": 1, "accepted": [], "ignore": []}', "unknown key(s) ignore"),
        (
            '{"version": 1, "accepted": [{"kind": "extra_idx", "table": "t", "reason": "r"}]}',
            "accepted[0].kind: unknown finding kind 'extra_idx'",
        ),
    ],
    ids=["missing", "invalid_json", "unknown_key", "unknown_kind"],
)
def test_a_bad_baseline_is_a_configuration_error_naming_the_target(
    tmp_path: Path, content: str | None, says: str
) -> None:
    """A missing or invalid baseline stops the configuration: one line, target and file named."""
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        build_targets(settings(one(url="sqlite:///a.db", baseline=str(path))))

    message = str(caught.value)
    assert message.startswith(f"target 'app': baseline file {path}")
    assert says in message
    assert "\n" not in message


def test_the_baseline_flag_overrides_the_selected_target(tmp_path: Path) -> None:
    """--baseline is a per-target flag like --metadata: it needs one target, and wins."""
    path = tmp_path / "b.json"
    path.write_text(BASELINE_JSON, encoding="utf-8")

    flags = Flags(targets=("a",), target={"baseline": path})
    (target,) = build_targets(with_target_flags(settings(*TWO), flags), names=("a",))

    assert target.baseline is not None and len(target.baseline.entries) == 1
    with pytest.raises(ConfigError, match="--baseline apply to one target"):
        with_target_flags(settings(*TWO), Flags(target={"baseline": path}))
