"""`check` honours `log_format = "json"`: what it says on stderr (its error lines, and any log
record) is one JSON object per line, for a CronJob's log pipeline; stdout keeps the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.daemon import write_config
from tests.support.scenarios import SHOP, run_driftwatch


@pytest.mark.parametrize("how", ["config", "flag"])
def test_check_writes_its_error_lines_as_json(tmp_path: Path, how: str) -> None:
    unreachable = "postgresql://app:s3cret@127.0.0.1:1/app"
    settings = {"log_format": "json"} if how == "config" else {}
    target = {"name": "app", "url": unreachable, "script_location": str(SHOP / "migrations")}
    target["connect_timeout_seconds"] = 2
    config = write_config(tmp_path / "dw.toml", settings, [target])
    flags = ["--log-format", "json"] if how == "flag" else []

    result = run_driftwatch("check", "--config", str(config), *flags, cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    records = [json.loads(line) for line in result.stderr.strip().splitlines()]
    assert records, "nothing on stderr"
    assert all(r["level"] == "error" and r["logger"] == "driftwatch.cli" for r in records)
    assert any("target 'app'" in r["message"] for r in records)
    assert "s3cret" not in result.stderr + result.stdout
    assert "COULD NOT CHECK" in result.stdout  # the report itself stays text


def test_check_keeps_plain_error_lines_by_default(tmp_path: Path) -> None:
    target = {"name": "app", "url": "postgresql://app:s3cret@127.0.0.1:1/app"}
    target |= {"script_location": str(SHOP / "migrations"), "connect_timeout_seconds": 2}
    config = write_config(tmp_path / "dw.toml", {}, [target])

    result = run_driftwatch("check", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("driftwatch: target 'app'")
