"""The daemon re-reads a target's baseline file when it changes, without a restart."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import URL

from tests.e2e.test_serve import FAST, alembic, sql, target
from tests.support.daemon import serve, write_config

DBA_INDEX = "CREATE INDEX ix_tasks_name ON tasks (name)"


def write_baseline(path: Path, *entries: dict[str, str]) -> None:
    # replaced as an editor or a ConfigMap update would: a new file moved into place
    staged = path.with_suffix(".new")
    staged.write_text(json.dumps({"version": 1, "accepted": list(entries)}), encoding="utf-8")
    staged.replace(path)


def test_baseline_edits_apply_on_the_next_tick(pg_url: URL, tmp_path: Path) -> None:
    """Accepting a drift clears it within an interval, with no new comparison; a broken
    edit fails the target's checks until it is mended."""
    alembic(pg_url, "upgrade", "head")
    sql(pg_url, DBA_INDEX)
    baseline = tmp_path / "baseline.json"
    write_baseline(baseline)
    config = write_config(
        tmp_path / "dw.toml", FAST, [target("cp", pg_url, baseline=str(baseline))]
    )

    with serve(config, tmp_path) as daemon:
        daemon.wait_for(
            "drift", lambda: daemon.value("driftwatch_schema_in_sync", target="cp") == 0
        )
        full_checks = daemon.value("driftwatch_full_checks_total", target="cp")

        write_baseline(
            baseline,
            {"kind": "extra_index", "table": "tasks", "name": "ix_tasks_name", "reason": "DBA"},
        )
        daemon.wait_for(
            "accepted", lambda: daemon.value("driftwatch_schema_in_sync", target="cp") == 1
        )
        assert daemon.value("driftwatch_schema_drift_accepted_objects", target="cp") == 1
        assert daemon.value("driftwatch_full_checks_total", target="cp") == full_checks

        baseline.write_text("{not json", encoding="utf-8")
        daemon.wait_for(
            "failing", lambda: daemon.value("driftwatch_check_success", target="cp") == 0
        )
        (report,) = json.loads(daemon.get("/report")[1])["targets"]
        assert "baseline.json" in report["error"] and "not valid JSON" in report["error"]

        write_baseline(baseline)
        daemon.wait_for(
            "recovered", lambda: daemon.value("driftwatch_check_success", target="cp") == 1
        )
        daemon.wait_for(
            "drift again", lambda: daemon.value("driftwatch_schema_in_sync", target="cp") == 0
        )
        assert daemon.terminate() == 0
