"""Throwaway copies of the shop scenario in a test's tmp_path, for tests that break its code.

The copy's migration scripts and models are plain files the test may rewrite (a revision
that calls sys.exit, models that print); the scenario itself stays untouched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from tests.support.scenarios import SHOP, migrate, plain_url

MODELS_MODULE = "shop_models"


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    root: Path  # the working directory: models modules here import by name
    scripts: Path  # its migrations folder (script_location)
    url: URL  # a SQLite database of its own, migrated to head

    @property
    def dsn(self) -> str:
        return plain_url(self.url)

    @property
    def metadata(self) -> str:
        """The `module:attr` of the copy's own (good) models."""
        return f"{MODELS_MODULE}:metadata"

    def revision_file(self, revision: str = "c3") -> Path:
        (found,) = self.scripts.glob(f"versions/{revision}_*.py")
        return found

    def write_models(self, module: str, body: str) -> str:
        """A models module `module` in the project that runs `body`, then exposes the good
        models' MetaData; returns its `module:attr`."""
        code = f"{body}\n\nfrom {MODELS_MODULE} import metadata  # noqa: E402\n"
        (self.root / f"{module}.py").write_text(code, encoding="utf-8")
        return f"{module}:metadata"

    def append_to_revision(self, code: str, revision: str = "c3") -> str:
        """Add module-level `code` to a revision file; returns the file's former text."""
        path = self.revision_file(revision)
        original = path.read_text(encoding="utf-8")
        path.write_text(f"{original}\n{code}\n", encoding="utf-8")
        return original


def make_project(root: Path) -> Project:
    """A copy of the shop scenario's scripts and models under `root`, with its database."""
    root.mkdir(parents=True, exist_ok=True)
    scripts = root / "migrations"
    shutil.copytree(SHOP / "migrations", scripts)
    shutil.copy(SHOP / "models.py", root / f"{MODELS_MODULE}.py")
    url = make_url(f"sqlite+aiosqlite:///{root / 'app.db'}")
    migrate(url, "head")
    return Project(root=root, scripts=scripts, url=url)
