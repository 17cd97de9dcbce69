"""Shared fixtures: real databases, created per test and dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from tests.support.servers import (
    Server,
    create_database,
    drop_database,
    mysql_server,
    new_database_name,
    postgres_server,
    unavailable,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test session's own cache folder (expected-state snapshots, the embedded server's
    template), for this process and the driftwatch processes tests start: a cache left by
    an earlier run or another checkout must not answer for this code."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server | str]:
    with postgres_server() as found:
        yield found


@pytest.fixture(scope="session")
def my_server() -> Server | str:
    return mysql_server()


def _fresh(server: Server | str) -> Iterator[URL]:
    if isinstance(server, str):
        unavailable(server)
        raise AssertionError("unreachable")
    name = new_database_name()
    url = create_database(server, name)
    try:
        yield url
    finally:
        drop_database(server, name)


@pytest.fixture
def pg_url(pg_server: Server | str) -> Iterator[URL]:
    """An empty PostgreSQL database of its own (async URL), dropped after the test."""
    yield from _fresh(pg_server)


@pytest.fixture
def mysql_url(my_server: Server | str) -> Iterator[URL]:
    """An empty MySQL/MariaDB database of its own (async URL), dropped after the test."""
    yield from _fresh(my_server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    """A SQLite database file of its own (async URL)."""
    return make_url(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")


@pytest.fixture(params=["postgresql", "sqlite", "mysql"])
def any_url(request: pytest.FixtureRequest) -> URL:
    """An empty database on each dialect in turn."""
    fixture = {"postgresql": "pg_url", "sqlite": "sqlite_url", "mysql": "mysql_url"}[request.param]
    url: URL = request.getfixturevalue(fixture)
    return url


# the fixtures that need a server, and the dialect names a parametrized test may carry
_POSTGRES_FIXTURES = frozenset({"pg_server", "pg_url"})
_MYSQL_FIXTURES = frozenset({"my_server", "mysql_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a server (`-m "not mysql"` deselects them all): by the
    fixtures it uses, and by the dialect a parametrized test runs on (`any_url`, `dialect`,
    which reach their server through `request.getfixturevalue`)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        dialects = {str(v) for k, v in params.items() if k in ("dialect", "any_url")}
        if names & _POSTGRES_FIXTURES or "postgresql" in dialects:
            item.add_marker(pytest.mark.postgres)
        if names & _MYSQL_FIXTURES or "mysql" in dialects:
            item.add_marker(pytest.mark.mysql)
