"""Settings from a TOML file, .env, the environment and explicit values, strongest last."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from driftwatch.config.loading import Flags, load_settings
from driftwatch.config.settings import MAX_SECONDS
from driftwatch.errors import ConfigError

TARGET = {"name": "app", "url": "sqlite:///app.db", "script_location": "migrations"}


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run in an empty folder with no DRIFTWATCH_ variable from the outside."""
    for key in list(os.environ):
        if key.startswith("DRIFTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_with_several_targets(tmp_path: Path) -> None:
    """Every [[targets]] table becomes a target with its fields; lists may be single strings."""
    config = write(
        tmp_path / "dw.toml",
        """
concurrency = 3

[[targets]]
name = "orders-db"
url = "postgresql://app:pw@db/orders"
script_location = "myapp:migrations"
version_locations = ["a", "b"]
version_table = "orders_version"
version_table_schema = "meta"
metadata = ["myapp.models:metadata", "myapp.extra:metadata"]
imports = "myapp.plugins"
schemas = ["public", "audit"]
include_tables = "orders*"
exclude_tables = ["tmp_*"]
compare_type = false
compare_server_default = true
labels = { team = "payments" }

[[targets]]
name = "billing"
url_env = "BILLING_URL"
alembic_ini = "billing/alembic.ini"
""",
    )

    settings = load_settings(config)

    assert settings.concurrency == 3
    first, second = settings.targets
    assert first.name == "orders-db"
    assert first.url is not None
    assert first.url.get_secret_value() == "postgresql://app:pw@db/orders"
    assert first.script_location == "myapp:migrations"
    # file paths in the file are relative to the file; a package:path resource stays as it is
    assert first.version_locations == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert (first.version_table, first.version_table_schema) == ("orders_version", "meta")
    assert first.metadata == ["myapp.models:metadata", "myapp.extra:metadata"]
    assert first.imports == ["myapp.plugins"]
    assert first.schemas == ["public", "audit"]
    assert (first.include_tables, first.exclude_tables) == (["orders*"], ["tmp_*"])
    assert (first.compare_type, first.compare_server_default) == (False, True)
    assert first.labels == {"team": "payments"}
    assert (second.name, second.url_env, second.alembic_ini) == (
        "billing",
        "BILLING_URL",
        tmp_path / "billing" / "alembic.ini",
    )


def test_a_relative_web_config_file_starts_at_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write(folder / "dw.toml", 'web_config_file = "web.yml"\n')
    monkeypatch.chdir(tmp_path)
    assert load_settings(config).web_config_file == folder / "web.yml"


def test_relative_paths_in_the_file_start_at_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths in driftwatch.toml mean the same from any working directory; CLI values do not
    move, absolute paths and home-relative paths are kept."""
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write(
        folder / "dw.toml",
        """
tls_cert_file = "certs/tls.crt"
tls_key_file = "/abs/tls.key"
state_file = "state/notifications.json"

[[targets]]
name = "a"
url_file = "secrets/url"
script_location = "migrations"
baseline = "baselines/a.json"

[[notifiers]]
type = "webhook"
url_file = "secrets/hook"
""",
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config)
    assert settings.tls_cert_file == folder / "certs" / "tls.crt"
    assert settings.tls_key_file == Path("/abs/tls.key")
    assert settings.state_file == folder / "state" / "notifications.json"
    [target] = settings.targets
    assert target.url_file == folder / "secrets" / "url"
    assert target.script_location == str(folder / "migrations")
    assert target.baseline == folder / "baselines" / "a.json"
    assert settings.notifiers[0].url_file == folder / "secrets" / "hook"


def test_the_url_is_a_secret(tmp_path: Path) -> None:
    """The parsed settings never show the URL (with its password) in their repr."""
    config = write(
        tmp_path / "dw.toml",
        '[[targets]]\nname = "a"\nurl = "postgresql://u:hunter2@h/db"\nscript_location = "m"\n',
    )

    assert "hunter2" not in repr(load_settings(config))


def test_strength_order_cli_env_dotenv_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each source overrides the weaker ones, and only for the keys it sets."""
    config = write(
        tmp_path / "dw.toml",
        "concurrency = 2\ninterval_seconds = 10\nmax_age_seconds = 100\nlog_level = 'error'\n",
    )
    write(
        tmp_path / ".env",
        "DRIFTWATCH_CONCURRENCY=3\nDRIFTWATCH_INTERVAL_SECONDS=20\nDRIFTWATCH_MAX_AGE_SECONDS=200\n",
    )
    monkeypatch.setenv("DRIFTWATCH_CONCURRENCY", "5")
    monkeypatch.setenv("DRIFTWATCH_INTERVAL_SECONDS", "30")

    settings = load_settings(config, Flags(settings={"concurrency": 7}))

    assert settings.concurrency == 7  # command line
    assert settings.interval_seconds == 30  # environment
    assert settings.max_age_seconds == 200  # .env
    assert settings.log_level == "error"  # TOML
    assert settings.jitter_seconds is None  # default


def test_targets_from_the_environment_as_json_replace_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DRIFTWATCH_TARGETS (JSON) beats .env's, which beats the TOML file's [[targets]]."""
    config = write(
        tmp_path / "dw.toml",
        '[[targets]]\nname = "from_toml"\nurl = "sqlite:///t.db"\nscript_location = "m"\n',
    )
    dotenv_target = {**TARGET, "name": "from_dotenv"}
    write(tmp_path / ".env", f"DRIFTWATCH_TARGETS='{json.dumps([dotenv_target])}'\n")
    assert [t.name for t in load_settings(config).targets] == ["from_dotenv"]

    monkeypatch.setenv(
        "DRIFTWATCH_TARGETS", json.dumps([{**TARGET, "name": "env1"}, {**TARGET, "name": "env2"}])
    )
    assert [t.name for t in load_settings(config).targets] == ["env1", "env2"]


def test_dotenv_keys_of_the_application_are_ignored(tmp_path: Path) -> None:
    """.env is shared with the application: DATABASE_URL and friends are not our keys."""
    write(tmp_path / ".env", "DATABASE_URL=postgresql://x/y\nSECRET_KEY=abc\n")

    assert load_settings().targets == []


def test_config_file_from_environment_and_default_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--config beats $DRIFTWATCH_CONFIG, which beats ./driftwatch.toml."""
    write(tmp_path / "driftwatch.toml", "concurrency = 2\n")
    assert load_settings().concurrency == 2

    other = write(tmp_path / "other.toml", "concurrency = 3\n")
    monkeypatch.setenv("DRIFTWATCH_CONFIG", str(other))
    assert load_settings().concurrency == 3

    explicit = write(tmp_path / "explicit.toml", "concurrency = 4\n")
    assert load_settings(explicit).concurrency == 4


def test_no_config_at_all_is_valid_and_empty() -> None:
    """With no file and no variables the settings have defaults and no targets."""
    settings = load_settings()

    assert settings.targets == []
    assert settings.concurrency == 4


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("concurency = 2\n", "unknown key(s) concurency"),
        (
            '[[targets]]\nname = "a"\nurl = "sqlite:///a.db"\nscript_location = "m"\nuser = "x"\n',
            "targets.0.user: unknown key",
        ),
        ("concurrency = 'many'\n", "concurrency: Input should be a valid integer"),
        ("concurrency = 0\n", "concurrency: Input should be greater than or equal to 1"),
        ("targets = 'db'\n", "targets: Input should be a valid list"),
        (
            '[[targets]]\nname = "a"\nscript_location = "m"\ncompare_type = "maybe"\n',
            "targets.0.compare_type: Input should be a valid boolean",
        ),
        (
            '[[targets]]\nname = "a"\nscript_location = "m"\nmetadata = 3\n',
            "targets.0.metadata",
        ),
        ('[[targets]]\nscript_location = "m"\n', "targets.0.name: Field required"),
        ('[[targets]]\nname = "no spaces"\nscript_location = "m"\n', "targets.0.name"),
        (
            '[[targets]]\nname = "a"\nscript_location = "m"\nlabels = { target = "x" }\n',
            "label name 'target' is reserved",
        ),
        (
            '[[targets]]\nname = "a"\nurl = "sqlite:///a"\nurl_env = "A"\nscript_location = "m"\n',
            "give only one of url, url_env, url_file",
        ),
        (
            '[[targets]]\nname = "a"\nalembic_ini = "a.ini"\nscript_location = "m"\n',
            "give alembic_ini or script_location, not both",
        ),
        (
            '[[targets]]\nname = "a"\nscript_location = "m"\n'
            '[[targets]]\nname = "a"\nscript_location = "n"\n',
            "target names must be unique (repeated: a)",
        ),
        ("concurrency = \n", "is not valid TOML"),
    ],
    ids=[
        "unknown_top_level_key",
        "unknown_target_key",
        "wrong_type_top_level",
        "out_of_range",
        "targets_not_a_list",
        "wrong_type_in_target",
        "metadata_not_a_string",
        "target_without_name",
        "bad_target_name",
        "reserved_label",
        "two_url_sources",
        "two_script_sources",
        "duplicate_target_names",
        "invalid_toml",
    ],
)
def test_bad_toml_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, toml: str, says: str
) -> None:
    """Every kind of bad configuration file gives one line with the file and what is wrong."""
    message = config_error(tmp_path, toml)

    assert says in message
    assert str(tmp_path / "bad.toml") in message


def test_a_max_age_beyond_the_longest_duration_is_refused(tmp_path: Path) -> None:
    """A max age meant as "never compare again" is refused in one line at start, rather than
    crashing every daemon check after the first (a full comparison due in the year 27339)."""
    message = config_error(tmp_path, "max_age_seconds = 1e12\n")

    assert "max_age_seconds" in message
    assert f"at most {MAX_SECONDS} seconds" in message
    assert "\n" not in message
    path = tmp_path / "ok.toml"
    path.write_text(f"max_age_seconds = {MAX_SECONDS}\n", encoding="utf-8")
    assert load_settings(path).max_age_seconds == MAX_SECONDS


def test_missing_config_file(tmp_path: Path) -> None:
    """A --config that does not exist is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_several_errors_are_counted_on_the_one_line(tmp_path: Path) -> None:
    """The first problem is shown and the rest are counted, still on one line."""
    message = config_error(tmp_path, "concurrency = 'x'\ninterval_seconds = 'y'\n")

    assert message.endswith("(and 1 more)")


def test_a_bad_environment_value_is_blamed_on_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong value from DRIFTWATCH_* is not reported as the config file's fault."""
    config = write(tmp_path / "dw.toml", "concurrency = 2\n")
    monkeypatch.setenv("DRIFTWATCH_CONCURRENCY", "many")

    with pytest.raises(ConfigError) as caught:
        load_settings(config)

    message = str(caught.value)
    assert "concurrency: Input should be a valid integer" in message
    assert "config file" not in message
    assert "environment" in message


def test_unparsable_json_in_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DRIFTWATCH_TARGETS that is not JSON is a one-line ConfigError, not a crash."""
    monkeypatch.setenv("DRIFTWATCH_TARGETS", "[{not json")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "DRIFTWATCH_TARGETS" in str(caught.value) or "targets" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_key_in_dotenv_is_refused(tmp_path: Path) -> None:
    """A DRIFTWATCH_ key in .env that is not a setting is a typo, and is reported."""
    write(tmp_path / ".env", "DRIFTWATCH_CONCURENCY=3\n")

    with pytest.raises(ConfigError, match="concurency: unknown key"):
        load_settings()


@pytest.mark.parametrize("key", ["replay_bootstrap", "include_name", "include_object"])
@pytest.mark.parametrize("hook", ["app.db", "app.db:", ":create", "app db:create", "app.db:1x"])
def test_a_hook_that_is_no_import_path_is_refused(tmp_path: Path, hook: str, key: str) -> None:
    """replay_bootstrap and the env.py filters name a callable by `module:callable`: anything
    else is one line naming the file and the key, before any database is touched."""
    message = config_error(
        tmp_path,
        f'[[targets]]\nname = "a"\nurl = "sqlite:///a.db"\nscript_location = "m"\n'
        f"{key} = {hook!r}\n",
    )

    assert key in message
    assert "module:callable" in message
    assert "\n" not in message
