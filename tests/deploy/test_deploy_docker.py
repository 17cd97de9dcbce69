"""deploy/Dockerfile: built from the repository root, non-root, `driftwatch` as entrypoint."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from tests.support.tools import REPO_ROOT

DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / "deploy" / "Dockerfile.dockerignore"
K8S_DIR = REPO_ROOT / "deploy" / "kubernetes"


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY ...
    arguments: str  # the rest of the (joined) line


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order: comments dropped, backslash continuations joined."""
    instructions = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append(Instruction(keyword=keyword.upper(), arguments=arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def build_args(instructions: list[Instruction]) -> dict[str, str]:
    """ARG defaults declared before the first FROM."""
    defaults = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            defaults[name] = default
    return defaults


def last(stage: list[Instruction], keyword: str) -> Instruction:
    return [instruction for instruction in stage if instruction.keyword == keyword][-1]


def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def final_stage() -> list[Instruction]:
    return stages(instructions())[-1]


def test_every_stage_builds_on_python_311_slim() -> None:
    defaults = build_args(instructions())
    for stage in stages(instructions()):
        image = stage[0].arguments.split()[0]
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], image)
        assert image.startswith("python:3.11-slim"), image


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    """A numeric UID, so Kubernetes' runAsNonRoot can check it; the manifests use the same."""
    user, _, group = last(final_stage(), "USER").arguments.partition(":")
    assert user.isdigit()
    assert int(user) > 0
    assert not group or group.isdigit()
    for path in K8S_DIR.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for line in yaml.safe_dump(doc).splitlines():
                if line.strip().startswith("runAsUser:"):
                    assert line.split(":")[1].strip() == user, path


def test_entrypoint_is_the_console_script_and_cmd_serves() -> None:
    """ENTRYPOINT ["driftwatch"] (pyproject's console script), CMD serve --config ..."""
    stage = final_stage()
    entrypoint = json.loads(last(stage, "ENTRYPOINT").arguments)
    cmd = json.loads(last(stage, "CMD").arguments)
    assert entrypoint == ["driftwatch"]
    assert cmd == ["serve", "--config", "/etc/driftwatch/driftwatch.toml"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["driftwatch"] == "driftwatch.cli:main"
    assert last(stage, "EXPOSE").arguments == "9647"


def test_the_project_is_installed_with_pip_from_the_context_under_the_constraints() -> None:
    """The project with the drivers of the dialects an image meets, every version pinned by
    the constraints file copied in beside it (a rebuild installs the same versions)."""
    runs = [i.arguments for stage in stages(instructions()) for i in stage if i.keyword == "RUN"]
    (install,) = [run for run in runs if "pip install" in run]
    words = shlex.split(install)
    assert ".[postgresql,mysql]" in words, install
    constraint = words[words.index("--constraint") + 1]
    placed = {
        destination: sources
        for stage in stages(instructions())
        for sources, destination in copies(stage)
    }
    assert placed[f"./{constraint}"] == ["deploy/constraints.txt"]


def copies(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not --from a stage)."""
    found = []
    for instruction in stage:
        if instruction.keyword != "COPY" or "--from=" in instruction.arguments:
            continue
        *sources, destination = instruction.arguments.split()
        found.append(([s for s in sources if not s.startswith("--")], destination))
    return found


def test_migrations_are_copied_to_app() -> None:
    """alembic.ini and alembic/ land in /app, where every ConfigMap's alembic_ini points."""
    stage = final_stage()
    workdir = PurePosixPath(last(stage, "WORKDIR").arguments)
    placed = {
        source: str(workdir / destination)
        for sources, destination in copies(stage)
        for source in sources
    }
    assert placed["alembic.ini"] == "/app/alembic.ini"
    assert placed["alembic"] == "/app/alembic"
    for path in K8S_DIR.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc["kind"] == "ConfigMap":
                for text in doc["data"].values():
                    for target in tomllib.loads(text).get("targets", []):
                        assert target["alembic_ini"] == placed["alembic.ini"], path


def ignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (`**` any depth, `*`/`?` within a path segment)."""
    parts = re.split(r"(\*\*/?|\*|\?|\[[^\]]*\])", pattern.strip("/"))
    translated = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}

    def regex(part: str) -> str:
        if part.startswith("[") and part.endswith("]"):
            return part  # a character class means the same in both
        return translated.get(part, re.escape(part))

    return re.compile("".join(regex(part) for part in parts))


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    candidates = [
        path,
        *(str(parent) for parent in PurePosixPath(path).parents if str(parent) != "."),
    ]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = ignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = not negated
    return verdict


def test_copied_sources_exist_and_survive_the_dockerignore() -> None:
    """Each COPY source is in the repository and not left out of the build context."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = {s for stage in stages(instructions()) for group, _ in copies(stage) for s in group}
    assert {"pyproject.toml", "driftwatch", "src", "alembic", "alembic.ini"} <= sources
    for source in sorted(sources):
        path = REPO_ROOT / source
        assert path.exists(), source
        files = [path] if path.is_file() else [p for p in path.rglob("*.py") if p.is_file()]
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert not ignored(relative, patterns), f"{relative} is excluded from the context"
    assert ignored("tests/conftest.py", patterns)
    assert ignored(".venv/bin/python", patterns)
    assert ignored("driftwatch/__pycache__/cli.cpython-311.pyc", patterns)
    assert ignored("driftwatch/stray.pyc", patterns)


def test_dockerfile_parser_reads_continuations_and_json() -> None:
    """The little parser above joins continued lines and keeps exec-form arguments."""
    parsed = parse_dockerfile(
        '# syntax=docker/dockerfile:1\nFROM a AS b\nRUN one \\\n  # note\n  two\nCMD ["x", "y"]\n'
    )
    assert [(i.keyword, i.arguments) for i in parsed] == [
        ("FROM", "a AS b"),
        ("RUN", "one two"),
        ("CMD", '["x", "y"]'),
    ]


def test_config_env_points_at_the_config_cmd_serves() -> None:
    """DRIFTWATCH_CONFIG lets `driftwatch check` inside the container omit --config."""
    env = {}
    for instruction in final_stage():
        if instruction.keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(instruction.arguments))
    cmd = json.loads(last(final_stage(), "CMD").arguments)
    assert env["DRIFTWATCH_CONFIG"] == cmd[cmd.index("--config") + 1]
    assert env["PATH"].startswith("/opt/driftwatch/bin:")
