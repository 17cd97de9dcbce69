"""The CLI's edges: usage errors, unexpected failures and where models import from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from driftwatch import cli
from tests.support.scenarios import SHOP, migrate

CONSOLE_SCRIPT = Path(sys.executable).parent / "driftwatch"


@pytest.mark.parametrize(
    "argv",
    [["check", "--format", "xml"], ["bogus"], ["check", "--no-such-flag"], ["serve", "--interval"]],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str]) -> None:
    """Bad usage prints one line (not the whole usage text) and exits 2."""
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error:" in result.stderr


def test_an_unexpected_failure_is_one_masked_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug below the CLI still ends as one line, exit 2, with URL passwords masked."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("cannot use postgresql://app:hunter2@db/app\nsecond line")

    monkeypatch.setattr(cli, "load_settings", broken)
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "RuntimeError" in err
    assert "hunter2" not in err
    assert "app:***@db" in err


def test_models_import_from_the_working_directory(sqlite_url: URL, tmp_path: Path) -> None:
    """`--metadata module:attr` finds a module in the current folder, as `python -m` would,
    with the installed console script and no PYTHONPATH."""
    if not CONSOLE_SCRIPT.exists():
        pytest.fail(f"the console script is not installed at {CONSOLE_SCRIPT}")
    migrate(sqlite_url, "head")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SHOP / "models.py", project / "shop_models.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "check", "--url", sqlite_url.render_as_string(False),
         "--script-location", str(SHOP / "migrations"), "--metadata", "shop_models:metadata"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "matches the models" in result.stdout
