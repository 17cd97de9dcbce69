"""The project's own code run by `driftwatch check` (models modules, migration scripts) cannot
end the process, hide the other targets, corrupt the JSON report, or leak a password.

Each case runs the installed console script on a throwaway copy of the shop scenario.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.daemon import free_port, write_config
from tests.support.projects import Project, make_project
from tests.support.scenarios import SHOP, run_driftwatch

# what user code may raise instead of an Exception, and what the error line then says
BASE_EXCEPTIONS = {
    "sys_exit_3": ("import sys\nsys.exit(3)", "SystemExit: 3"),
    "sys_exit_0": ("import sys\nsys.exit(0)", "SystemExit: 0"),
    "raise_system_exit": ("raise SystemExit", "SystemExit"),
    "sys_exit_message": ("import sys\nsys.exit('giving up')", "SystemExit: giving up"),
    "keyboard_interrupt": ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    "generator_exit": ("raise GeneratorExit", "GeneratorExit"),
    "custom_base_exception": (
        "class Halt(BaseException):\n    pass\n\n\nraise Halt('stop here')",
        "Halt: stop here",
    ),
    "cancelled_error": ("import asyncio\nraise asyncio.CancelledError()", "CancelledError"),
}
REVISION_CASES = ("sys_exit_0", "raise_system_exit", "keyboard_interrupt", "custom_base_exception")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


def two_targets(project: Project, broken: dict[str, Any]) -> Path:
    """A config with the `broken` target first and a good one after it."""
    good = {
        "name": "good",
        "url": project.dsn,
        "script_location": str(SHOP / "migrations"),
        "metadata": project.metadata,
    }
    broken = {"name": "broken", "url": project.dsn, **broken}
    return write_config(project.root / "dw.toml", {}, [broken, good])


def one_error_line(result: subprocess.CompletedProcess[str], *says: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for phrase in says:
        assert phrase in lines[0], lines[0]
    return lines[0]


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {target["name"]: target for target in report["targets"]}


@pytest.mark.parametrize("case", list(BASE_EXCEPTIONS))
def test_models_that_exit_or_raise_fail_only_their_target(project: Project, case: str) -> None:
    """A models module ending in sys.exit() or any BaseException fails its own target with one
    line naming the module (exit 2); the other target is still checked, and the JSON says so."""
    body, says = BASE_EXCEPTIONS[case]
    models = project.write_models("app_models", body)
    config = two_targets(project, {"script_location": str(project.scripts), "metadata": models})

    result = run_driftwatch("check", "--config", str(config), "--format", "json", cwd=project.root)

    one_error_line(result, "target 'broken'", "'app_models'", says)
    targets = by_name(json.loads(result.stdout))
    assert targets["broken"]["status"] == "error"
    assert says in targets["broken"]["error"]
    assert targets["good"]["status"] == "in_sync"


@pytest.mark.parametrize("case", REVISION_CASES)
def test_revision_files_that_exit_or_raise_fail_only_their_target(
    project: Project, case: str
) -> None:
    """A revision file that exits or raises a BaseException while alembic loads it fails its
    own target with one line naming the file (exit 2); the other target is still checked."""
    body, says = BASE_EXCEPTIONS[case]
    project.append_to_revision(body)
    config = two_targets(
        project, {"script_location": str(project.scripts), "metadata": project.metadata}
    )

    for fmt in ("text", "json"):
        result = run_driftwatch("check", "--config", str(config), "--format", fmt, cwd=project.root)

        line = one_error_line(result, "target 'broken'", "migration scripts", says)
        assert project.revision_file().name in line
    targets = by_name(json.loads(result.stdout))
    assert targets["broken"]["status"] == "error"
    assert targets["good"]["status"] == "in_sync"


PRINTING_MODELS = """
import os
import subprocess
import sys

print("models say hello")
sys.stdout.write("models write to sys.stdout\\n")
os.write(1, b"models write to file descriptor 1\\n")
subprocess.run(["echo", "a child process of the models writes"], check=True)
"""


def test_models_that_print_leave_the_json_report_alone(project: Project) -> None:
    """Whatever a models module writes to stdout while importing (print, sys.stdout, file
    descriptor 1, a child process) goes to stderr: stdout stays one JSON document."""
    models = project.write_models("chatty_models", PRINTING_MODELS)
    args = ["check", "--url", project.dsn, "--script-location", str(project.scripts)]

    result = run_driftwatch(*args, "--metadata", models, "--format", "json", cwd=project.root)

    assert result.returncode == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert report["targets"][0]["status"] == "in_sync"
    for said in ("hello", "to sys.stdout", "to file descriptor 1", "a child process"):
        assert said in result.stderr


# --- secrets ------------------------------------------------------------------------------

PASSWORD = "Pw/e2e@9f3b%x"  # characters a URL must escape: it appears in two spellings
HOOK_TOKEN = "hook-token-5c1d2e"

LEAKING_CODE = """
import os
from sqlalchemy.engine import make_url

raw = os.environ["APP_DATABASE_URL"]
raise RuntimeError(
    f"cannot use {raw}\\n(password {make_url(raw).password}, hook {os.environ['HOOK_URL']})"
)
"""


@pytest.mark.parametrize("where", ["models", "revision"])
def test_errors_raised_by_user_code_never_show_a_secret(project: Project, where: str) -> None:
    """A models module or revision file whose error quotes the database URL, its password and
    a notifier's webhook URL: stderr, the text report and the JSON report show none of them."""
    url = f"postgresql://app:{quote(PASSWORD, safe='')}@127.0.0.1:{free_port()}/app"
    target: dict[str, Any] = {
        "url_env": "APP_DATABASE_URL",
        "script_location": str(project.scripts),
    }
    if where == "models":
        target["metadata"] = project.write_models("leaky_models", LEAKING_CODE)
    else:
        project.append_to_revision(LEAKING_CODE)
        target["metadata"] = project.metadata
    config = write_config(project.root / "dw.toml", {}, [{"name": "app", **target}])
    with config.open("a", encoding="utf-8") as fh:
        fh.write('\n[[notifiers]]\ntype = "slack"\nurl_env = "HOOK_URL"\n')
    env = {
        "APP_DATABASE_URL": url,
        "HOOK_URL": f"https://hooks.example.com/services/{HOOK_TOKEN}",
    }

    for fmt in ("text", "json"):
        result = run_driftwatch(
            "check", "--config", str(config), "--format", fmt, cwd=project.root, env=env
        )

        line = one_error_line(result, "target 'app'", "RuntimeError: cannot use")
        assert "app:***@127.0.0.1" in line
        shown = result.stdout + result.stderr
        for secret in (PASSWORD, quote(PASSWORD, safe=""), HOOK_TOKEN):
            assert secret not in shown, fmt
    assert "***" in by_name(json.loads(result.stdout))["app"]["error"]
