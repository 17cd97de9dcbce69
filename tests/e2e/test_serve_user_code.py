"""The project's own code run by `driftwatch serve` (migration scripts re-read while it runs,
models imported at start-up) fails its target, never the daemon, and never shows a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_user_code import BASE_EXCEPTIONS
from tests.support.daemon import Daemon, serve, write_config
from tests.support.projects import Project, make_project

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


def succeeding(daemon: Daemon, value: int) -> None:
    daemon.wait_for(
        f"check_success {value}",
        lambda: daemon.value("driftwatch_check_success", target="app") == value,
    )


def errors_so_far(daemon: Daemon) -> float:
    return daemon.value("driftwatch_check_errors_total", target="app") or 0


@pytest.mark.parametrize("case", ["sys_exit_0", "keyboard_interrupt", "custom_base_exception"])
def test_a_revision_that_exits_fails_its_target_until_mended(project: Project, case: str) -> None:
    """A revision file edited to exit (or raise a BaseException) while the daemon runs makes
    each check of its target fail with the reason in /report (no frozen "in sync"); the
    daemon stays up, and the target recovers once the file is mended."""
    body, says = BASE_EXCEPTIONS[case]
    app = {"name": "app", "url": project.dsn, "script_location": str(project.scripts)}
    config = write_config(project.root / "dw.toml", FAST, [{**app, "metadata": project.metadata}])
    with serve(config, project.root) as daemon:
        succeeding(daemon, 1)

        original = project.append_to_revision(body)
        succeeding(daemon, 0)
        failed = errors_so_far(daemon)
        daemon.wait_for("more failed checks", lambda: errors_so_far(daemon) >= failed + 2)
        (report,) = json.loads(daemon.get("/report")[1])["targets"]
        assert report["status"] == "error"
        assert says in report["error"]
        assert project.revision_file().name in report["error"]
        assert daemon.get("/healthz")[0] == 200

        project.revision_file().write_text(original, encoding="utf-8")
        succeeding(daemon, 1)
        assert daemon.terminate() == 0
