"""The public API: what `driftwatch` exports is importable, typed, and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import driftwatch
from driftwatch.check import check_target
from driftwatch.findings import Attribution
from tests.conftest import REPO_ROOT


def test_every_exported_name_resolves_to_its_module_object() -> None:
    assert driftwatch.check_target is check_target
    assert driftwatch.Attribution is Attribution
    for name in driftwatch.__all__:
        assert getattr(driftwatch, name) is not None, name
    assert sorted(dir(driftwatch)) == sorted(driftwatch.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        driftwatch.no_such_thing  # noqa: B018 - the lookup is the test
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_the_package_is_typed() -> None:
    assert (REPO_ROOT / "driftwatch" / "py.typed").is_file()


def test_importing_driftwatch_imports_nothing_heavy() -> None:
    """Names load on first use: the CLI's start-up does not pay for SQLAlchemy through here."""
    heavy = "('sqlalchemy', 'alembic', 'driftwatch.')"
    code = f"import sys, driftwatch; print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout
    assert out.strip() == "[]"
