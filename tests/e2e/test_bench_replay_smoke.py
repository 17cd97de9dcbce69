"""bench/replay_cost.py still runs: a tiny history on SQLite, no timing asserted.

The script itself refuses a check that is not a clean replay, so a zero exit also says the
generated project replays to exactly its models.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "replay_cost.py"
ROWS = ("alembic compare_metadata", "live snapshot alone", "cold check", "cached check")


def test_replay_bench_runs_and_prints_every_row() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dialect", "sqlite", "--revisions", "12", "--repeat", "1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "sqlite, 12 revisions, 4 tables" in result.stdout
    for row in ROWS:
        assert re.search(
            rf"^{row}\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+x\s+[0-9.]+x$", result.stdout, re.M
        ), row
