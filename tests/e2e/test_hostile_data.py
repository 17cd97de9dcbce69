"""Output stays bounded whatever the database holds: a version table of 100,000 long rows,
a comment of a megabyte and hundreds of extra tables give bounded labels, log lines, reports
and messages, each saying how much it left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.daemon import serve, write_config
from tests.support.scenarios import (
    SHOP,
    SHOP_METADATA,
    execute,
    migrate,
    plain_url,
    run_driftwatch,
)

ROWS = 100_000
EXTRA_TABLES = 600
COMMENT = 1_000_000
KB = 1024


@pytest.fixture
def hostile_url(pg_url: URL) -> URL:
    """The shop at head, then: 100,000 more rows of 207 characters in the version table, a
    table comment of a million characters, and 600 tables the models do not have (sorted
    after it)."""
    migrate(pg_url, "head")
    execute(
        pg_url,
        "ALTER TABLE alembic_version ALTER COLUMN version_num TYPE VARCHAR(255)",
        "INSERT INTO alembic_version SELECT 'r' || lpad(g::text, 6, '0') || repeat('x', 200) "
        f"FROM generate_series(1, {ROWS}) AS g",
        f"COMMENT ON TABLE users IS '{'c' * COMMENT}'",
        f"DO $$ BEGIN FOR i IN 1..{EXTRA_TABLES} LOOP "
        "EXECUTE format('CREATE TABLE zz_extra_%s (id int)', i); END LOOP; END $$",
    )
    return pg_url


def _flags(url: URL) -> list[str]:
    return [
        "--url",
        plain_url(url),
        "--script-location",
        str(SHOP / "migrations"),
        "--metadata",
        SHOP_METADATA,
    ]


def _target_json(document: dict[str, object]) -> dict[str, object]:
    (target,) = document["targets"]  # type: ignore[misc]
    assert isinstance(target, dict)
    return target


def _assert_bounded_report(target: dict[str, object]) -> None:
    revision, schema = target["revision"], target["schema"]
    assert isinstance(revision, dict) and isinstance(schema, dict)
    assert revision["state"] == "unknown_revision"
    assert len(revision["database_heads"]) + revision["database_heads_omitted"] == ROWS + 1
    assert len(revision["database_heads"]) <= 20
    assert len(revision["unknown"]) + revision["unknown_omitted"] == ROWS
    assert len(revision["unknown"]) <= 20
    findings = schema["findings"]
    assert len(findings) + schema["findings_omitted"] == EXTRA_TABLES + 1
    assert len(findings) <= 500
    assert schema["counts"] == {"comment_mismatch": 1, "extra_table": EXTRA_TABLES}
    (comment,) = [f for f in findings if f["kind"] == "comment_mismatch"]
    assert len(comment["actual"]) < 1 * KB
    assert f"{COMMENT - 500} more characters" in comment["actual"]


def test_check_json_and_text_are_bounded(hostile_url: URL, tmp_path: Path) -> None:
    """`check --format json` and the text report stay small and count what they left out."""
    as_json = run_driftwatch("check", "--format", "json", *_flags(hostile_url), cwd=tmp_path)
    as_text = run_driftwatch("check", *_flags(hostile_url), cwd=tmp_path)

    assert as_json.returncode == 1, as_json.stderr
    assert len(as_json.stdout) < 1024 * KB
    _assert_bounded_report(_target_json(json.loads(as_json.stdout)))
    assert as_text.returncode == 1, as_text.stderr
    assert len(as_text.stdout) < 1024 * KB
    assert f"and {ROWS + 1 - 20} more" in as_text.stdout
    assert "and 101 more differences" in as_text.stdout
    assert max(len(line) for line in as_text.stdout.splitlines()) < 4 * KB


def test_serve_metrics_report_and_logs_are_bounded(hostile_url: URL, tmp_path: Path) -> None:
    """`serve`: a bounded driftwatch_revision_info label, /metrics, /report and log lines."""
    target = {
        "name": "hostile",
        "url": plain_url(hostile_url),
        "script_location": str(SHOP / "migrations"),
        "metadata": SHOP_METADATA,
    }
    settings = {"interval_seconds": 600, "log_level": "info"}
    config = write_config(tmp_path / "driftwatch.toml", settings, [target])

    with serve(config, tmp_path) as daemon:
        daemon.wait_for("a check", lambda: daemon.get("/readyz")[0] == 200, timeout=120)
        metrics = daemon.metrics_text()
        status, body = daemon.get("/report")
        (info,) = daemon.series("driftwatch_revision_info", target="hostile")
        log = daemon.log()

    labels = dict(info)
    assert len(labels["database_revision"]) <= 256
    # c3 fits; the first of the long rows would not: the label counts the rest
    assert labels["database_revision"] == f"c3,+{ROWS} more"
    assert len(metrics) < 64 * KB
    assert status == 200
    assert len(body) < 1024 * KB
    _assert_bounded_report(_target_json(json.loads(body)))
    assert log.strip()
    assert max(len(line) for line in log.splitlines()) < 4 * KB
