"""bench/stagger.py still runs and still shows the staggering: a small fleet, a seeded clock.

The script simulates ticks with the daemon's real decision function; its figures are for
people (bench/README.md), and this only checks that the staggered rule's busiest minute is
far below the old rule's, which puts nearly the whole fleet into one minute.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "bench" / "stagger.py"
ROW = re.compile(
    r"^(before \(age >= max age\)|after)\s+(\d+)\s+(\d+) /\s+[0-9.]+ =\s+([0-9.]+)x", re.M
)


def test_stagger_bench_runs_and_spreads_the_fleet() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--targets", "200", "--periods", "3"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    rows = {m.group(1): (int(m.group(3)), float(m.group(4))) for m in ROW.finditer(result.stdout)}
    assert set(rows) == {"before (age >= max age)", "after"}, result.stdout
    before_busiest, before_ratio = rows["before (age >= max age)"]
    after_busiest, after_ratio = rows["after"]
    assert before_busiest >= 150  # the old rule: most of the 200 targets in one minute
    assert after_busiest * 5 < before_busiest
    assert after_ratio < before_ratio
