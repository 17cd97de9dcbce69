"""`driftwatch snapshot` and `driftwatch check --against-snapshot` as a user runs them: the
installed console script, real PostgreSQL, MariaDB and SQLite databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def shop_flags(url: URL) -> list[str]:
    """The shop target; on MySQL/MariaDB the models are built on the database's own server."""
    flags = ["--url", plain_url(url), "--script-location", SCRIPTS, "--metadata", SHOP_METADATA]
    if url.get_backend_name() == "mysql":
        flags += ["--scratch-url", plain_url(url)]
    return flags


def check_json(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    result = run_driftwatch("check", "--format", "json", *args, cwd=cwd)
    assert result.stdout, result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    return result.returncode, target


def kinds(target: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["kind"], f["table"], f["name"]) for f in target["schema"]["findings"]]


def test_live_snapshot_then_check_against_it(any_url: URL, tmp_path: Path) -> None:
    """A live snapshot saved to a file matches the same database (exit 0, the report naming
    the file); after an extra index and a dropped column the check finds both (exit 1)."""
    migrate(any_url, "head")
    saved = tmp_path / "live.json"

    taken = run_driftwatch(
        "snapshot", "live", *shop_flags(any_url), "--out", str(saved), cwd=tmp_path
    )

    assert taken.returncode == 0, taken.stderr
    assert taken.stdout == ""
    assert taken.stderr.startswith(f"driftwatch: wrote {saved}: live snapshot of target")
    document = json.loads(saved.read_text())
    assert (document["schema_version"], document["source"]) == (1, "live")
    assert document["snapshot"]["dialect"] == any_url.get_backend_name()
    tables = {t["name"] for t in document["snapshot"]["tables"]}
    assert tables == {"users", "orders"}  # the version table is not the schema
    assert not list(tmp_path.glob(".live.json*"))  # no temporary file left behind

    against = ["--url", plain_url(any_url), "--script-location", SCRIPTS]
    code, target = check_json(*against, "--against-snapshot", str(saved), cwd=tmp_path)
    assert code == 0, target
    assert target["revision"]["state"] == "at_head"
    assert target["schema"]["method"] == "snapshot_file"
    assert target["schema"]["notes"][0].startswith(
        f"compared with snapshot file {saved} (live snapshot of target 'default', taken "
    )

    execute(
        any_url,
        "CREATE INDEX ix_orders_total_by_hand ON orders (total)",
        "ALTER TABLE orders DROP COLUMN note",
    )
    code, target = check_json(*against, "--against-snapshot", str(saved), cwd=tmp_path)
    assert code == 1, target
    assert sorted(kinds(target)) == [
        ("extra_index", "orders", "ix_orders_total_by_hand"),
        ("missing_column", "orders", "note"),
    ]

    text = run_driftwatch("check", *against, "--against-snapshot", str(saved), cwd=tmp_path)
    assert text.returncode == 1
    assert "schema    2 differences (full comparison, snapshot_file)" in text.stdout
    assert f"note: compared with snapshot file {saved}" in text.stdout


def test_models_snapshot_is_what_check_compares(any_url: URL, tmp_path: Path) -> None:
    """`snapshot models` is the expected state check builds: checking against its file
    finds exactly what the models' snapshot comparison finds, and its JSON is stdout."""
    migrate(any_url, "head")
    execute(any_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")

    taken = run_driftwatch("snapshot", "models", *shop_flags(any_url), cwd=tmp_path)
    assert taken.returncode == 0, taken.stderr
    document = json.loads(taken.stdout)
    assert document["source"] == "models"
    saved = tmp_path / "models.json"
    saved.write_text(taken.stdout)

    code, models = check_json(*shop_flags(any_url), "--comparison", "snapshot", cwd=tmp_path)
    assert code == 1, models
    assert models["schema"]["method"] == "replay"  # at head, the replay and the models agree
    code, against = check_json(*shop_flags(any_url), "--against-snapshot", str(saved), cwd=tmp_path)
    assert code == 1, against
    assert kinds(against) == kinds(models) == [("extra_column", "users", "nickname")]

    def sides(target: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
        return [(f["kind"], f["expected"], f["actual"]) for f in target["schema"]["findings"]]

    assert sides(against) == sides(models)
    assert [f["attribution"] for f in models["schema"]["findings"]] == ["drift"]
    assert [f["attribution"] for f in against["schema"]["findings"]] == ["unattributed"]


def test_snapshots_never_hold_the_password(pg_url: URL, tmp_path: Path) -> None:
    """A URL's password (the local server trusts, so any password connects) is in neither
    snapshot, nor anywhere in what the command prints."""
    migrate(pg_url, "head")
    secret = "pw-Snapshot-s3cret"
    url = plain_url(pg_url.set(password=secret))
    scratch = plain_url(pg_url.set(database="postgres", password=secret))
    flags = ["--url", url, "--script-location", SCRIPTS, "--metadata", SHOP_METADATA]
    flags += ["--scratch-url", scratch]

    for source in ("live", "models"):
        out = tmp_path / f"{source}.json"
        taken = run_driftwatch("snapshot", source, *flags, "--out", str(out), cwd=tmp_path)
        assert taken.returncode == 0, taken.stderr
        printed = run_driftwatch("snapshot", source, *flags, cwd=tmp_path)
        assert printed.returncode == 0, printed.stderr
        for text in (out.read_text(), taken.stdout, taken.stderr, printed.stdout, printed.stderr):
            assert secret not in text
        assert json.loads(printed.stdout)["snapshot"] == json.loads(out.read_text())["snapshot"]


def test_several_targets_need_one_named(sqlite_url: URL, tmp_path: Path) -> None:
    """With two targets configured, --target chooses the one to snapshot."""
    migrate(sqlite_url, "head")
    config = tmp_path / "dw.toml"
    config.write_text(
        "".join(
            f'[[targets]]\nname = "{name}"\nurl = "{plain_url(sqlite_url)}"\n'
            f'script_location = "{SCRIPTS}"\n'
            for name in ("one", "two")
        )
    )

    refused = run_driftwatch("snapshot", "live", "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == (
        "driftwatch: error: snapshot is for one target (2 selected: one, two): "
        "name one with --target\n"
    )

    chosen = run_driftwatch(
        "snapshot", "live", "--config", str(config), "--target", "two", cwd=tmp_path
    )
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["target"] == "two"


def test_revision_snapshot_is_what_that_revision_builds(any_url: URL, tmp_path: Path) -> None:
    """`snapshot revision b2` replays the scripts up to b2 in the scratch database: a database
    migrated to b2 by alembic matches it, and one at head has c3's column more."""
    saved = tmp_path / "b2.json"

    taken = run_driftwatch(
        "snapshot", "revision", "b2", *shop_flags(any_url), "--out", str(saved), cwd=tmp_path
    )

    assert taken.returncode == 0, taken.stderr
    document = json.loads(saved.read_text())
    assert document["source"] == "revision"
    users = next(t for t in document["snapshot"]["tables"] if t["name"] == "users")
    assert "active" not in {c["name"] for c in users["columns"]}

    migrate(any_url, "b2")
    code, target = check_json(
        "--against-snapshot", str(saved), "--fail-on", "drift", *shop_flags(any_url), cwd=tmp_path
    )
    assert (code, kinds(target)) == (0, [])

    migrate(any_url, "head")
    code, target = check_json(
        "--against-snapshot", str(saved), "--fail-on", "drift", *shop_flags(any_url), cwd=tmp_path
    )
    assert (code, kinds(target)) == (1, [("extra_column", "users", "active")])
