"""How driftwatch installs: the wheel holds driftwatch alone (with its license), each
database driver comes with its extra, and the image's constraints pin every dependency."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.tools import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONSTRAINTS = REPO_ROOT / "deploy" / "constraints.txt"


def test_the_wheel_installs_driftwatch_only_with_its_license(tmp_path: Path) -> None:
    """No Control Plane (nor tests, bench, alembic/) in users' environments; the license
    the metadata declares is the file shipped."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"driftwatch"}
    assert "driftwatch/py.typed" in names
    dist_info = next(t for t in top if t.endswith(".dist-info"))
    license_text = zipfile.ZipFile(wheel).read(f"{dist_info}/licenses/LICENSE").decode()
    assert license_text == (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    for extra in ("postgresql", "mysql", "sqlite", "embedded"):
        assert f"Provides-Extra: {extra}" in metadata


def runtime_closure(extras: set[str]) -> set[str]:
    """Every distribution installing the project with `extras` brings, read from the
    installed metadata (this environment has all of them)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    for extra in extras:
        todo += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.requires(requirement.name) or []:
            child = Requirement(raw)
            wanted = [{"extra": e} for e in requirement.extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in wanted):
                todo.append(child)
    return seen


def pins() -> dict[str, str]:
    found = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned with ==: {line}"
            found[canonicalize_name(name)] = version.strip()
    return found


def test_constraints_pin_every_dependency_of_the_image_within_the_project_s_ranges() -> None:
    pinned = pins()
    closure = runtime_closure({"postgresql", "mysql"})
    assert closure - set(pinned) == set(), "deploy/constraints.txt misses these"
    assert "alembic-driftwatch" not in pinned
    for raw in PYPROJECT["project"]["dependencies"] + [
        *PYPROJECT["project"]["optional-dependencies"]["postgresql"],
        *PYPROJECT["project"]["optional-dependencies"]["mysql"],
    ]:
        requirement = Requirement(raw)
        version = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (raw, version)


def test_drivers_are_extras_and_sqlite_s_is_always_there() -> None:
    """The README's first command (`pip install -e .`, then the SQLite demo) needs no extra;
    PostgreSQL and MySQL targets name the extra that brings their driver."""
    base = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "aiosqlite" in base
    assert "asyncpg" not in base and "aiomysql" not in base
    assert [Requirement(r).name for r in extras["postgresql"]] == ["asyncpg"]
    assert [Requirement(r).name for r in extras["mysql"]] == ["aiomysql"]
