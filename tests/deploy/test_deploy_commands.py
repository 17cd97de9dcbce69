"""Every `driftwatch` command line shipped in deploy/ and the deploy docs is one the CLI takes."""

from __future__ import annotations

import contextlib
import io
import json
import shlex

import pytest
import yaml

from driftwatch.cli import build_parser
from tests.support.tools import (
    DRIFTWATCH_CLI,
    REPO_ROOT,
    documentation_files,
    driftwatch_command_lines,
    inline_code_spans,
    shell_code_blocks,
)

DEPLOY = REPO_ROOT / "deploy"
DOCS = documentation_files()


def from_kubernetes() -> list[tuple[str, list[str]]]:
    """The args of each container running the driftwatch image (its entrypoint is driftwatch)."""
    found = []
    for path in sorted((DEPLOY / "kubernetes").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc or doc["kind"] not in {"Deployment", "CronJob"}:
                continue
            spec = doc["spec"]
            pod = (spec["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else spec)["template"]
            for container in pod["spec"]["containers"]:
                if "/driftwatch:" not in container["image"]:
                    continue
                assert container.get("command", ["driftwatch"]) == ["driftwatch"], path
                where = f"{path.relative_to(DEPLOY)}:{container['name']}"
                found.append((where, [str(arg) for arg in container["args"]]))
    return found


def from_dockerfile() -> list[tuple[str, list[str]]]:
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    (cmd,) = [line.removeprefix("CMD ").strip() for line in lines if line.startswith("CMD ")]
    return [("Dockerfile:CMD", json.loads(cmd))]


def from_systemd() -> list[tuple[str, list[str]]]:
    unit = (DEPLOY / "systemd" / "driftwatch.service").read_text(encoding="utf-8")
    starts = [line.partition("=")[2] for line in unit.splitlines() if line.startswith("ExecStart=")]
    return [("driftwatch.service:ExecStart", shlex.split(start)[1:]) for start in starts]


def from_docs() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for snippet in [*shell_code_blocks(text), *inline_code_spans(text)]:
            found.extend((doc.name, argv) for argv in driftwatch_command_lines(snippet))
    return found


COMMAND_LINES = [*from_kubernetes(), *from_dockerfile(), *from_systemd(), *from_docs()]


def test_every_run_mode_is_covered() -> None:
    """The scan finds the daemon, the sidecar, the CronJob, the image, the unit and the docs."""
    sources = {where.split(":")[0] for where, _ in COMMAND_LINES}
    assert {"README.md", "Dockerfile", "driftwatch.service"} <= sources
    # every page of docs/ that shows a command line is scanned (the README links them all)
    assert {"runbook.md", "deploying.md", "check.md", "configuration.md", "serve.md"} <= sources
    assert {argv[0] for _, argv in from_kubernetes()} == {"serve", "check"}
    assert len(from_kubernetes()) == 3


@pytest.mark.parametrize(
    ("where", "argv"), COMMAND_LINES, ids=[f"{w} {' '.join(a)}" for w, a in COMMAND_LINES]
)
def test_command_line_keeps_to_the_documented_cli(where: str, argv: list[str]) -> None:
    """Subcommand and flags are those of DESIGN.md's CLI contract."""
    subcommand, *rest = argv
    assert subcommand in DRIFTWATCH_CLI, f"{where}: unknown subcommand {subcommand!r}"
    flags = {arg.partition("=")[0] for arg in rest if arg.startswith("-")}
    unknown = flags - DRIFTWATCH_CLI[subcommand]
    assert not unknown, f"{where}: {subcommand} has no {sorted(unknown)}"


@pytest.mark.parametrize(
    ("where", "argv"), COMMAND_LINES, ids=[f"{w} {' '.join(a)}" for w, a in COMMAND_LINES]
)
def test_command_line_parses_with_the_real_cli(where: str, argv: list[str]) -> None:
    """driftwatch.cli's own parser accepts the arguments (nothing is run)."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: driftwatch {' '.join(argv)}\n{errors.getvalue()}")


def test_readme_links_the_deploying_guide() -> None:
    """The README's Deploying section points at the guide whose commands are scanned here."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Deploying\n" in readme
    assert "](docs/deploying.md)" in readme
    assert REPO_ROOT / "docs" / "deploying.md" in DOCS
