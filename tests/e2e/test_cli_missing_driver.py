"""A target whose database driver is not installed is refused in one line naming the extra
that installs it. The driver is hidden from a real driftwatch process by a finder placed
around the normal ones (as if `pip install alembic-driftwatch` had left it out)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tools import REPO_ROOT

HIDE = """
import sys
class Hide:
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == {module!r}:
            return None  # what every finder says of a module that is not installed
        return self.finder.find_spec(name, path, target)
    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)
sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
from driftwatch.cli import main
sys.argv = ["driftwatch", *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.parametrize(
    ("module", "url", "extra"),
    [
        ("asyncpg", "postgresql://app:s3cret@127.0.0.1:1/db", "postgresql"),
        ("aiomysql", "mysql://app:s3cret@127.0.0.1:1/db", "mysql"),
    ],
)
def test_a_missing_driver_names_its_extra(
    module: str, url: str, extra: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            HIDE.format(module=module),
            "check",
            "--url",
            url,
            "--script-location",
            str(REPO_ROOT / "alembic"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert f"needs the {module} driver" in line
    assert f"pip install 'alembic-driftwatch[{extra}]'" in line
    assert "s3cret" not in result.stderr + result.stdout
