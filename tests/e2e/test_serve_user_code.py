"""The project's own code run by `driftwatch serve` (migration scripts re-read while it runs,
models imported at start-up) fails its target, never the daemon, and never shows a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import URL

from tests.e2e.test_cli_user_code import BASE_EXCEPTIONS, HOOK_TOKEN, LEAKING_CODE, PASSWORD
from tests.support.daemon import NO_ALERT_WINDOWS, Daemon, free_port, serve, write_config
from tests.support.projects import Project, make_project
from tests.support.receivers import receiver
from tests.support.scenarios import migrate, plain_url

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json",
        "alert_windows": NO_ALERT_WINDOWS}  # fmt: skip


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


def test_secrets_quoted_by_a_failing_revision_stay_masked(
    pg_url: URL, project: Project, tmp_path: Path
) -> None:
    """A revision file whose error quotes the database URL, its password and the webhook URL:
    /report, metrics, the log and the notification sent show none of them."""
    migrate(pg_url, "head")
    # the test server trusts local connections: the password is accepted as it is
    with_password = plain_url(pg_url.set(password=PASSWORD))
    written = with_password.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    with receiver() as hook:
        hook_url = hook.url(f"/services/{HOOK_TOKEN}")
        app = {"name": "app", "url_env": "APP_DATABASE_URL", "metadata": project.metadata}
        config = write_config(
            tmp_path / "dw.toml", FAST, [{**app, "script_location": str(project.scripts)}]
        )
        with config.open("a", encoding="utf-8") as fh:
            fh.write('\n[[notifiers]]\ntype = "webhook"\nurl_env = "HOOK_URL"\n')
        env = {"APP_DATABASE_URL": with_password, "HOOK_URL": hook_url}
        with serve(config, project.root, env=env) as daemon:
            succeeding(daemon, 1)

            project.append_to_revision(LEAKING_CODE)
            succeeding(daemon, 0)
            hook.wait_for("the check_failing notification", lambda: len(hook.accepted) >= 1)
            report = daemon.get("/report")[1]
            shown = [report, daemon.metrics_text(), *(json.dumps(r.body) for r in hook.requests)]
            assert daemon.terminate() == 0
            shown.append(daemon.log())
    (target,) = json.loads(report)["targets"]
    assert "RuntimeError: cannot use" in target["error"]
    assert "***" in target["error"]
    assert "check_failing" in daemon.log()
    for text in shown:
        for secret in (PASSWORD, quote(PASSWORD, safe=""), written, HOOK_TOKEN):
            assert secret not in text


def test_models_that_quote_the_url_at_start_up_stop_it_without_showing_it(
    project: Project,
) -> None:
    """Models that fail at start-up quoting the database URL: one line, exit 2, masked."""
    models = project.write_models("leaky_models", LEAKING_CODE)
    url = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/app"
    app = {"name": "app", "url_env": "APP_DATABASE_URL", "script_location": str(project.scripts)}
    config = write_config(project.root / "dw.toml", {}, [{**app, "metadata": models}])
    env = {"APP_DATABASE_URL": url, "HOOK_URL": "https://hooks.example.com/x"}

    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=project.root,
        env={**os.environ, **env},
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "leaky_models" in lines[0]
    assert "app:***@127.0.0.1" in lines[0]
    for secret in (PASSWORD, quote(PASSWORD, safe="")):
        assert secret not in result.stderr
