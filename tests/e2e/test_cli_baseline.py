"""Baselines through the installed console script: --baseline, the TOML key, --write-baseline,
and bad files, against real PostgreSQL databases."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from tests.support.daemon import write_config
from tests.support.scenarios import SHOP, SHOP_METADATA, execute, migrate, plain_url, run_driftwatch

SCRIPTS = str(SHOP / "migrations")
DBA_INDEX = "CREATE INDEX ix_users_created_at ON users (created_at)"


def shop_flags(url: URL, *extra: str) -> list[str]:
    return [
        "--url",
        plain_url(url),
        "--script-location",
        SCRIPTS,
        "--metadata",
        SHOP_METADATA,
        *extra,
    ]


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def one_line_error(result: subprocess.CompletedProcess[str], *says: str) -> str:
    """Bad input: exit 2, a single 'driftwatch: ' line on stderr, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    assert line.startswith("driftwatch: ")
    assert "Traceback" not in result.stdout + result.stderr
    for phrase in says:
        assert phrase in line, line
    return line


def test_write_baseline_then_check_is_in_sync(pg_url: URL, tmp_path: Path) -> None:
    """--write-baseline accepts today's differences (exit 0 as if applied); a check with
    that baseline is in sync and still shows them; new drift is drift."""
    migrate(pg_url, "head")
    execute(pg_url, DBA_INDEX, "ALTER TABLE orders ADD COLUMN legacy_code VARCHAR(8)")
    baseline = tmp_path / "baselines" / "shop.json"
    baseline.parent.mkdir()

    written = run_driftwatch(
        "check", *shop_flags(pg_url, "--write-baseline", str(baseline)), cwd=tmp_path
    )

    assert written.returncode == 0, written.stdout + written.stderr
    assert (
        written.stderr == f"driftwatch: wrote {baseline}: 2 accepted (0 kept, 2 new, 0 dropped)\n"
    )
    assert "  accepted by baseline: 2" in written.stdout
    document = json.loads(baseline.read_text(encoding="utf-8"))
    assert document["version"] == 1
    assert [(e["kind"], e["table"], e["name"]) for e in document["accepted"]] == [
        ("extra_column", "orders", "legacy_code"),
        ("extra_index", "users", "ix_users_created_at"),
    ]
    assert all(e["reason"].startswith("accepted on ") for e in document["accepted"])
    assert sorted(p.name for p in baseline.parent.iterdir()) == ["shop.json"]

    checked = run_driftwatch(
        "check", *shop_flags(pg_url, "--baseline", str(baseline)), cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == ""
    assert "matches the models, 2 accepted by baseline (full comparison, replay)" in checked.stdout

    execute(pg_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")
    drifted = run_driftwatch(
        "check", *shop_flags(pg_url, "--baseline", str(baseline)), cwd=tmp_path
    )
    assert drifted.returncode == 1
    assert "1 difference: 1 drift, 2 accepted by baseline (full comparison, replay)" in (
        drifted.stdout
    )
    assert "  drift: the database is not what its revision's migrations produce" in drifted.stdout


def test_rewriting_keeps_reasons_and_patterns_and_drops_stale_entries(
    pg_url: URL, tmp_path: Path
) -> None:
    """An existing file's entries that still match are kept as written; stale ones go."""
    migrate(pg_url, "head")
    execute(
        pg_url,
        "CREATE TABLE events_2026_01 (id INTEGER PRIMARY KEY)",
        "CREATE TABLE events_2026_02 (id INTEGER PRIMARY KEY)",
        DBA_INDEX,
    )
    partitions = {"kind": "extra_table", "table": "events_2026_*", "reason": "partitions"}
    stale = {"kind": "extra_index", "table": "orders", "name": "ix_gone", "reason": "old"}
    baseline = write_json(tmp_path / "b.json", {"version": 1, "accepted": [stale, partitions]})

    result = run_driftwatch(
        "check", "--format", "json", *shop_flags(pg_url, "--write-baseline", "b.json"), cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == "driftwatch: wrote b.json: 2 accepted (1 kept, 1 new, 1 dropped)\n"
    accepted = json.loads(baseline.read_text(encoding="utf-8"))["accepted"]
    assert accepted[0] == partitions
    assert (accepted[1]["name"], accepted[1]["schema"], accepted[1]["actual"]) == (
        "ix_users_created_at",
        "public",
        "INDEX USING btree (created_at)",
    )
    schema = json.loads(result.stdout)["targets"][0]["schema"]
    assert (schema["in_sync"], schema["findings"], schema["baseline_unmatched"]) == (True, [], [])
    assert [(a["table"], a["reason"]) for a in schema["accepted"]][:2] == [
        ("events_2026_01", "partitions"),
        ("events_2026_02", "partitions"),
    ]


def test_json_report_with_a_baseline_from_the_config_file(pg_url: URL, tmp_path: Path) -> None:
    """`baseline` in driftwatch.toml is relative to the file; JSON carries accepted findings
    with their reasons and the entries that matched nothing."""
    migrate(pg_url, "head")
    execute(pg_url, DBA_INDEX)
    etc = tmp_path / "etc"
    (etc / "baselines").mkdir(parents=True)
    entries = [
        {"kind": "extra_index", "table": "users", "name": "ix_users_*", "reason": "DBA report"},
        {"kind": "extra_table", "table": "coupons", "reason": "dropped last year"},
    ]
    write_json(etc / "baselines" / "shop.json", {"version": 1, "accepted": entries})
    target = {"name": "shop", "url": plain_url(pg_url), "script_location": SCRIPTS,
              "metadata": SHOP_METADATA, "baseline": "baselines/shop.json"}  # fmt: skip
    config = write_config(etc / "driftwatch.toml", {}, [target])

    result = run_driftwatch("check", "--config", str(config), "--format", "json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)["targets"][0]["schema"]
    [accepted] = schema["accepted"]
    assert (accepted["name"], accepted["reason"]) == ("ix_users_created_at", "DBA report")
    assert schema["baseline_unmatched"] == [entries[1]]
    assert schema["counts"] == {}


def test_write_baseline_refuses_what_cannot_be_compared(pg_url: URL, tmp_path: Path) -> None:
    """No version table, no models, several targets: exit 2, one line, the file untouched."""
    existing = write_json(tmp_path / "b.json", {"version": 1, "accepted": []})
    before = existing.read_bytes()

    never_migrated = run_driftwatch(
        "check", *shop_flags(pg_url, "--write-baseline", "b.json"), cwd=tmp_path
    )
    one_line_error(never_migrated, "no baseline written", "no alembic version table")

    migrate(pg_url, "head")
    no_models = [
        "--url",
        plain_url(pg_url),
        "--script-location",
        SCRIPTS,
        "--write-baseline",
        "b.json",
    ]
    one_line_error(run_driftwatch("check", *no_models, cwd=tmp_path), "schema not compared")

    two = [
        {"name": name, "url": plain_url(pg_url), "script_location": SCRIPTS} for name in ("a", "b")
    ]
    config = write_config(tmp_path / "dw.toml", {}, two)
    several = run_driftwatch(
        "check", "--config", str(config), "--write-baseline", "b.json", cwd=tmp_path
    )
    one_line_error(several, "--write-baseline needs exactly one target (2 selected: a, b)")

    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    bad = run_driftwatch("check", *shop_flags(pg_url, "--write-baseline", "bad.json"), cwd=tmp_path)
    one_line_error(bad, "--write-baseline: baseline file bad.json is not valid JSON")

    assert existing.read_bytes() == before
    assert (tmp_path / "bad.json").read_text(encoding="utf-8") == "{"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "bad.json", "dw.toml"]


BAD_FILES = {
    "missing": (None, "does not exist"),
    "invalid_json": ('{"version": 1, "accepted": [', "is not valid JSON"),
    "unknown_key": ('{"version": 1, "accepted": [], "ignored": []}', "unknown key(s) ignored"),
    "unknown_kind": (
        '{"version": 1, "accepted": [{"kind": "extra_idx", "table": "t", "reason": "r"}]}',
        "accepted[0].kind: unknown finding kind 'extra_idx'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_baseline_is_one_line_and_exit_2(sqlite_url: URL, tmp_path: Path, case: str) -> None:
    """check with --baseline, and check and serve with the TOML key, refuse a bad baseline
    before touching any database."""
    content, says = BAD_FILES[case]
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    target = {"name": "shop", "url": plain_url(sqlite_url), "script_location": SCRIPTS,
              "metadata": SHOP_METADATA, "baseline": "baseline.json"}  # fmt: skip
    config = write_config(tmp_path / "dw.toml", {}, [target])

    flag = run_driftwatch("check", *shop_flags(sqlite_url, "--baseline", str(path)), cwd=tmp_path)
    toml = run_driftwatch("check", "--config", str(config), cwd=tmp_path)
    serve = run_driftwatch(
        "serve", "--config", str(config), "--listen", "127.0.0.1:0", cwd=tmp_path
    )

    for result, target_name in ((flag, "default"), (toml, "shop"), (serve, "shop")):
        one_line_error(result, f"target '{target_name}': baseline file {path}", says)
    assert not Path(str(sqlite_url.database)).exists()


def test_first_baseline_for_a_target_that_already_names_it(pg_url: URL, tmp_path: Path) -> None:
    """The config may name a baseline that --write-baseline is about to create: writing it is
    not refused for the file being missing, and the next plain check uses it."""
    migrate(pg_url, "head")
    execute(pg_url, DBA_INDEX)
    target = {"name": "shop", "url": plain_url(pg_url), "script_location": SCRIPTS,
              "metadata": SHOP_METADATA, "baseline": "shop-baseline.json"}  # fmt: skip
    config = write_config(tmp_path / "driftwatch.toml", {}, [target])
    refused = run_driftwatch("check", "--config", str(config), cwd=tmp_path)
    one_line_error(refused, "shop-baseline.json", "does not exist")

    written = run_driftwatch(
        "check", "--config", str(config), "--write-baseline", "shop-baseline.json", cwd=tmp_path
    )

    assert written.returncode == 0, written.stdout + written.stderr
    assert (tmp_path / "shop-baseline.json").exists()
    again = run_driftwatch("check", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "accepted by baseline" in again.stdout
