"""Every bad input is one clear line and exit 2: never an 'internal error: ValueError', never a
multi-line message from configparser or alembic, never a traceback, and nothing written.

Each case prepares its files in an empty working directory and runs the installed console
script there; the directory must be exactly as it was afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from driftwatch.expected.snapshot_file import SnapshotFile, snapshot_document, snapshot_text
from driftwatch.snapshot import Scope, Snapshot
from tests.support.daemon import free_port
from tests.support.scenarios import SHOP, SHOP_METADATA, run_driftwatch

URL = "sqlite:///app.db"  # never opened: every case fails before connecting
SCRIPTS = ["--script-location", "migrations"]
BINARY = b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe binary \x00\x00"


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    args: list[str]
    says: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)  # written in the folder
    env: dict[str, str] = field(default_factory=dict)
    scripts: Callable[[Path], None] | None = None  # edits a copy of the shop's migrations


def serve(*args: str) -> list[str]:
    return ["serve", "--listen", f"127.0.0.1:{free_port()}", *args]


def target_toml(**extra: str) -> str:
    lines = ['[[targets]]\nname = "app"', f'url = "{URL}"', 'script_location = "migrations"']
    return "\n".join([*lines, *(f"{k} = {v}" for k, v in extra.items())]) + "\n"


def snapshot_file(**changes: object) -> str:
    """A snapshot file of an empty PostgreSQL database, with `changes` to its top level."""
    empty = Snapshot(dialect="postgresql", server_version="15.4", default_schema="public",
                     scope=Scope())  # fmt: skip
    saved = SnapshotFile(snapshot=empty, source="live", target="app", taken_at="2025-01-01")
    document = snapshot_document(saved, now=datetime.now(UTC))
    document.update(changes)
    return snapshot_text(document)


TWO_TARGETS = target_toml() + target_toml().replace('"app"', '"other"')
AGAINST = ["check", "--url", URL, *SCRIPTS, "--against-snapshot", "s.json"]
SNAPSHOT_LIVE = ["snapshot", "live", "--url", URL, *SCRIPTS]


def revision_text(folder: Path, revision: str, old: str, new: str) -> None:
    (path,) = folder.glob(f"versions/{revision}_*.py")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def duplicate_c3(folder: Path) -> None:
    (path,) = folder.glob("versions/c3_*.py")
    shutil.copy(path, path.with_name("c3_again.py"))


CASES = {
    # numbers: infinite, not a number, or too large for what they feed
    "interval_inf": Case(args=serve("--url", URL, *SCRIPTS, "--interval", "inf"),
                         says=("interval_seconds", "finite number")),
    "interval_nan": Case(args=serve("--url", URL, *SCRIPTS, "--interval", "nan"),
                         says=("interval_seconds", "finite number")),
    "interval_huge": Case(args=serve("--url", URL, *SCRIPTS, "--interval", "1e300"),
                          says=("interval_seconds", "at most 2147483 seconds")),
    "interval_inf_in_environment": Case(
        args=serve("--url", URL, *SCRIPTS), env={"DRIFTWATCH_INTERVAL_SECONDS": "inf"},
        says=("interval_seconds", "finite number")),
    "jitter_inf": Case(args=serve("--config", "dw.toml"),
                       files={"dw.toml": "jitter_seconds = inf\n" + target_toml()},
                       says=("jitter_seconds", "finite number")),
    "statement_timeout_inf": Case(
        args=["check", "--config", "dw.toml"],
        files={"dw.toml": target_toml(statement_timeout_seconds="inf")},
        says=("targets.0.statement_timeout_seconds", "finite number")),
    "check_timeout_huge": Case(
        args=["check", "--config", "dw.toml"],
        files={"dw.toml": target_toml(check_timeout_seconds="1e12")},
        says=("targets.0.check_timeout_seconds", "at most 2147483 seconds")),
    "connect_timeout_nan": Case(
        args=["check", "--config", "dw.toml"],
        files={"dw.toml": target_toml(connect_timeout_seconds="nan")},
        says=("targets.0.connect_timeout_seconds", "finite number")),
    # files that are not text, not there, or empty
    "binary_config": Case(args=["check", "--config", "dw.toml"], files={"dw.toml": BINARY},
                          says=("config file dw.toml", "not UTF-8 text")),
    "config_is_a_folder": Case(args=["check", "--config", "."],
                               says=("config file .", "cannot be read")),
    "binary_dotenv": Case(args=["check", "--url", URL, *SCRIPTS], files={".env": BINARY},
                          says=(".env", "not UTF-8 text")),
    "empty_url_file": Case(args=["check", "--config", "dw.toml"],
                           files={"dw.toml": target_toml().replace(
                               f'url = "{URL}"', 'url_file = "url.txt"'), "url.txt": "\n"},
                           says=("url_file", "url.txt", "is empty")),
    "binary_url_file": Case(args=["check", "--config", "dw.toml"],
                            files={"dw.toml": target_toml().replace(
                                f'url = "{URL}"', 'url_file = "url.txt"'), "url.txt": BINARY},
                            says=("url_file", "url.txt", "not UTF-8 text")),
    "binary_basic_auth_password_file": Case(
        args=serve("--config", "dw.toml"),
        files={"dw.toml": 'basic_auth_username = "u"\nbasic_auth_password_file = "pw"\n'
               + target_toml(), "pw": BINARY},
        says=("basic_auth_password_file", "not UTF-8 text")),
    "empty_basic_auth_password_file": Case(  # it used to turn basic auth off, silently
        args=serve("--config", "dw.toml"),
        files={"dw.toml": 'basic_auth_username = "u"\nbasic_auth_password_file = "pw"\n'
               + target_toml(), "pw": "\n"},
        says=("basic_auth_password_file", "is empty")),
    # URLs
    "url_port_not_a_number": Case(args=["check", *SCRIPTS, "--url", "postgresql://db:abc/app"],
                                  says=("url", "the port is not a number")),
    "url_port_out_of_range": Case(args=["check", *SCRIPTS, "--url", "postgresql://db:99999/app"],
                                  says=("url", "port 99999", "1-65535")),
    "url_unclosed_bracket": Case(args=["check", *SCRIPTS, "--url", "postgresql://[::1/app"],
                                 says=("url", "not a database URL", "IPv6")),
    # alembic.ini: read by driftwatch (no --metadata) or by alembic (with it)
    "ini_without_section": Case(
        args=["check"], env={"DATABASE_URL": URL},
        files={"alembic.ini": "script_location = migrations\n"},
        says=("alembic config", "alembic.ini", "line 1", "[section]")),
    "ini_without_section_read_by_alembic": Case(
        args=["check", "--url", URL, "--alembic-ini", "app.ini", "--metadata", SHOP_METADATA],
        files={"app.ini": "script_location = migrations\n"},
        says=("alembic config", "app.ini", "line 1", "[section]")),
    "ini_with_a_line_that_is_no_option": Case(
        args=["check"], env={"DATABASE_URL": URL},
        files={"alembic.ini": "[alembic]\nscript_location = migrations\n"
               "secret-in-ini was pasted here without a key\n"},
        says=("alembic config", "line 3", "not an option")),
    "binary_ini": Case(args=["check"], env={"DATABASE_URL": URL},
                       files={"alembic.ini": b"[alembic]\nscript_location = m\n" + BINARY},
                       says=("alembic config", "not UTF-8 text")),
    # the migration scripts' graph
    "missing_parent": Case(
        args=["check", "--url", URL, *SCRIPTS],
        scripts=lambda f: revision_text(f, "c3", 'down_revision = "b2"', 'down_revision = "zz"'),
        says=("migration scripts", "'zz'", "no script defines it")),
    "missing_dependency": Case(
        args=["check", "--url", URL, *SCRIPTS],
        scripts=lambda f: revision_text(f, "c3", "depends_on = None", 'depends_on = "nope"'),
        says=("migration scripts", "'nope'", "no script defines it")),
    "revision_defined_twice": Case(args=["check", "--url", URL, *SCRIPTS], scripts=duplicate_c3,
                                   says=("migration scripts", "revision 'c3'", "more than one")),
    "down_revision_not_a_string": Case(
        args=["check", "--url", URL, *SCRIPTS],
        scripts=lambda f: revision_text(f, "c3", 'down_revision = "b2"', "down_revision = 5"),
        says=("migration scripts", "not a string")),
    "missing_version_location": Case(
        args=["check", "--config", "dw.toml"],
        files={"dw.toml": target_toml(version_locations='["elsewhere"]')},
        says=("version_locations", "elsewhere", "does not exist")),
    # import paths
    "module_name_with_a_space": Case(
        args=["check", "--url", URL, *SCRIPTS, "--metadata", "my models:metadata"],
        says=("'my models:metadata'", "is not of the form module:attribute")),
    "relative_module_name": Case(
        args=["check", "--url", URL, *SCRIPTS, "--metadata", "..models:metadata"],
        says=("'..models:metadata'", "is not of the form module:attribute")),
    "empty_attribute_name": Case(
        args=["check", "--url", URL, *SCRIPTS, "--metadata", f"{SHOP_METADATA}..x"],
        says=("is not of the form module:attribute",)),
    # snapshots: one target, a folder to write in, a scratch database, replay not built yet
    "snapshot_of_several_targets": Case(
        args=["snapshot", "live", "--config", "dw.toml"], files={"dw.toml": TWO_TARGETS},
        says=("snapshot is for one target", "app, other", "name one with --target")),
    "snapshot_out_in_missing_folder": Case(args=[*SNAPSHOT_LIVE, "--out", "nope/s.json"],
                                           says=("--out", "nope", "does not exist")),
    "snapshot_models_without_models": Case(args=["snapshot", "models", "--url", URL, *SCRIPTS],
                                           says=("no models configured",)),
    "snapshot_models_without_scratch_database": Case(
        args=["snapshot", "models", "--url", "mysql://app:secret-in-ini@127.0.0.1:9/app",
              *SCRIPTS, "--metadata", SHOP_METADATA],
        says=("no scratch database", "needs scratch_url")),
    "snapshot_of_an_unknown_revision": Case(
        args=["snapshot", "revision", "zz9", "--url", URL, *SCRIPTS], says=("revision 'zz9'",)),
    # check --against-snapshot: a file that is there, JSON, this version, this dialect
    "against_missing_snapshot_file": Case(args=AGAINST, says=("s.json", "does not exist")),
    "against_snapshot_not_json": Case(args=AGAINST, files={"s.json": "{"},
                                      says=("s.json: not JSON", "line 1")),
    "against_binary_snapshot": Case(args=AGAINST, files={"s.json": BINARY},
                                    says=("s.json", "not UTF-8 text")),
    "against_other_schema_version": Case(
        args=AGAINST, files={"s.json": snapshot_file(schema_version=99)},
        says=("s.json: schema_version 99", "take the snapshot again")),
    "against_snapshot_of_other_dialect": Case(
        args=AGAINST, files={"s.json": snapshot_file()},
        says=("s.json", "postgresql database cannot be compared with a sqlite one")),
    "against_results_of_check": Case(
        args=AGAINST, files={"s.json": '{"schema_version": 1, "targets": []}'},
        says=("s.json: not a driftwatch snapshot file",)),
    "against_snapshot_of_several_targets": Case(
        args=["check", "--config", "dw.toml", "--against-snapshot", "s.json"],
        files={"dw.toml": TWO_TARGETS, "s.json": snapshot_file()},
        says=("--against-snapshot is for one target", "name one with --target")),
    "against_snapshot_with_write_baseline": Case(
        args=[*AGAINST, "--write-baseline", "b.json"], files={"s.json": snapshot_file()},
        says=("--against-snapshot and --write-baseline",)),
}  # fmt: skip


def listing(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path: Path, name: str) -> None:
    """The bad input is refused with exit 2 and one stderr line that says what is wrong,
    and nothing in the working directory is created or changed."""
    case = CASES[name]
    shutil.copytree(SHOP / "migrations", tmp_path / "migrations")
    if case.scripts is not None:
        case.scripts(tmp_path / "migrations")
    for file_name, content in case.files.items():
        path = tmp_path / file_name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = listing(tmp_path)

    result = run_driftwatch(
        *case.args, cwd=tmp_path, env={"PYTHONDONTWRITEBYTECODE": "1", **case.env}, timeout=60
    )

    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    (line,) = lines
    assert line.startswith("driftwatch: ")
    assert "internal error" not in line
    assert "Traceback" not in result.stdout + result.stderr
    for phrase in case.says:
        assert phrase in line, line
    assert "secret-in-ini" not in line
    assert listing(tmp_path) == before
