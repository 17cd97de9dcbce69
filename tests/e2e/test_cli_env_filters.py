"""`driftwatch check --include-object/--include-name` as a user runs it: the console script
in a project whose env.py filters live in an importable module (as docs/configuration.md
shows)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.daemon import write_config
from tests.support.projects import Project, make_project
from tests.support.scenarios import execute, run_driftwatch

FILTERS = """
def include_object(object, name, type_, reflected, compare_to):
    return not (type_ == "table" and name.startswith("legacy_"))


def include_name(name, type_, parent_names):
    return not (type_ == "table" and name == "scratch_notes")


def exits(object, name, type_, reflected, compare_to):
    raise SystemExit(3)


NOT_CALLABLE = 42
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The shop at head on SQLite, with two tables no model defines and its filters module."""
    found = make_project(tmp_path / "project")
    (found.root / "app_filters.py").write_text(FILTERS, encoding="utf-8")
    execute(
        found.url,
        "CREATE TABLE legacy_orders (id INTEGER PRIMARY KEY)",
        "CREATE TABLE scratch_notes (id INTEGER PRIMARY KEY)",
    )
    return found


def _check(project: Project, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_driftwatch(
        "check",
        "--url",
        project.dsn,
        "--script-location",
        str(project.scripts),
        "--metadata",
        project.metadata,
        *flags,
        cwd=project.root,
    )


@pytest.mark.parametrize("comparison", ["auto", "alembic"])
def test_the_flags_name_the_projects_filters(project: Project, comparison: str) -> None:
    """With both filters the check is in sync (exit 0); without include_object the legacy
    table is drift again (exit 1), so the filters are what made the difference."""
    how = ("--comparison", comparison)

    both = _check(
        project,
        *how,
        "--include-object",
        "app_filters:include_object",
        "--include-name",
        "app_filters:include_name",
    )
    names_only = _check(project, *how, "--include-name", "app_filters:include_name")

    assert both.returncode == 0, both.stdout + both.stderr
    assert names_only.returncode == 1, names_only.stdout + names_only.stderr
    assert "legacy_orders" in names_only.stdout
    assert "scratch_notes" not in names_only.stdout


def test_the_toml_keys_name_the_projects_filters(project: Project) -> None:
    """The same filters named in driftwatch.toml, the JSON report in sync."""
    config = write_config(
        project.root / "driftwatch.toml",
        {},
        [
            {
                "name": "shop",
                "url": project.dsn,
                "script_location": str(project.scripts),
                "metadata": project.metadata,
                "include_object": "app_filters:include_object",
                "include_name": "app_filters:include_name",
            }
        ],
    )

    result = run_driftwatch("check", "--config", str(config), "--format", "json", cwd=project.root)

    assert result.returncode == 0, result.stdout + result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    assert target["schema"]["findings"] == []


@pytest.mark.parametrize(
    ("flag", "says"),
    [
        ("app_filters", "module:callable"),
        ("no_such_module:include_object", "cannot import 'no_such_module'"),
        ("app_filters:missing", "no attribute 'missing'"),
        ("app_filters:NOT_CALLABLE", "is not callable (int)"),
        ("app_filters:exits", "include_object app_filters:exits failed: SystemExit: 3"),
    ],
)
def test_a_bad_filter_is_one_line_and_exit_2(project: Project, flag: str, says: str) -> None:
    """A filter path that is malformed, does not import, names no callable, or a filter that
    exits while asked: one line on stderr naming it, exit 2, no traceback."""
    result = _check(project, "--include-object", flag)

    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "include_object" in lines[0] and says in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
