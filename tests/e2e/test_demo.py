"""`driftwatch demo` as a new user runs it: no server, no configuration."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def test_demo_shows_every_kind_of_result_and_cleans_up(tmp_path: Path) -> None:
    """The demo reports drift (an extra index and a missing column made by hand), the pending
    migration's index and a model column no migration adds, each under its attribution;
    prints the metrics, exits 0, and leaves no database behind."""
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    before = set(Path(tempfile.gettempdir()).glob("driftwatch-demo-*"))
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "demo"],
        cwd=tmp_path,  # not the checkout: the demo finds the Control Plane on its own
        env={**os.environ, "TMPDIR": str(temp_root), "DATABASE_URL": "postgresql://nowhere/x"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "BEHIND: 1 migration pending" in out
    assert "extra_index" in out
    assert "ix_tasks_name" in out
    assert "missing_column" in out
    assert "description" in out
    assert "missing_index" in out  # the pending revision's index
    assert "4 differences: 2 drift, 1 pending, 1 unmigrated" in out
    drift = out.index("drift: the database is not what its revision's migrations produce")
    pending = out.index("pending: what the migrations not yet run will change")
    unmigrated = out.index("unmigrated: in the models, but no migration produces it")
    report = out[drift:]  # the narration above names the changes too
    assert report.index("ix_tasks_name") < report.index("description") < pending - drift
    assert pending - drift < report.index("ix_audit_log_actor") < unmigrated - drift
    assert unmigrated - drift < report.index("archived_at")
    assert "OUT OF SYNC" in out
    assert 'driftwatch_migrations_pending{target="control-plane-demo"} 1.0' in out
    assert (
        'driftwatch_schema_drift_objects{attribution="unmigrated",kind="missing_column",'
        'target="control-plane-demo"} 1.0' in out
    )
    assert "Traceback" not in result.stderr
    # the closing hint names the models: `check` without them compares the revision only
    assert out.rstrip().endswith(
        "  DATABASE_URL=... driftwatch check --metadata yourapp.models:Base.metadata"
    )
    assert list(temp_root.iterdir()) == []
    assert set(Path(tempfile.gettempdir()).glob("driftwatch-demo-*")) == before


def test_demo_keep_leaves_the_database_for_a_look(tmp_path: Path) -> None:
    """With --keep the demo database stays where the demo says it is."""
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "demo", "--keep"],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [kept] = list(tmp_path.glob("driftwatch-demo-*/control-plane-demo.db"))
    assert str(kept.parent) in result.stdout


def test_the_command_the_kept_demo_suggests_compares_the_schema(tmp_path: Path) -> None:
    """The command the demo prints to check its kept database by hand runs as printed, from
    another folder, and compares the schema: the drift and the pending migration's index are
    found again (the unmigrated column lived only in the demo's copy of the models)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    demo = subprocess.run(
        [sys.executable, "-m", "driftwatch", "demo", "--keep"],
        cwd=tmp_path,
        env={**env, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    [suggested] = [
        line.strip()
        for line in demo.stdout.splitlines()
        if line.strip().startswith("driftwatch check --url")
    ]
    command = shlex.split(suggested)
    assert "--metadata" in command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    check = subprocess.run(
        [sys.executable, "-m", "driftwatch", *command[1:]],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert check.returncode == 1, check.stdout + check.stderr
    assert "not compared" not in check.stdout
    assert "  schema    3 differences: 2 drift, 1 pending (full comparison, replay)" in (
        check.stdout
    )
