"""Find a database server for the tests: the environment first, then the local services,
then an embedded PostgreSQL (pgserver); otherwise skip with the reason.

Set DRIFTWATCH_TEST_REQUIRE_SERVERS=1 (CI does) to turn every such skip into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import URL, make_url

from tests.support.tcpproxy import TcpProxy

PG_ENV = "DRIFTWATCH_TEST_POSTGRES_URL"
MYSQL_ENV = "DRIFTWATCH_TEST_MYSQL_URL"
REQUIRE_ENV = "DRIFTWATCH_TEST_REQUIRE_SERVERS"


def unavailable(reason: str) -> None:
    """Skip the test with `reason`, or fail it when CI demands real servers."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_ENV}=1 forbids skipping)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """A server the tests may create throwaway databases on."""

    dialect: str  # "postgresql" or "mysql"
    admin_url: URL  # async URL of a maintenance database
    origin: str  # where it came from, for skip messages and debugging

    def database_url(self, name: str) -> URL:
        return self.admin_url.set(database=name)


def _pg_from_env_or_local() -> Server | None:
    if raw := os.environ.get(PG_ENV):
        url = make_url(raw).set(drivername="postgresql+asyncpg")
        return Server(dialect="postgresql", admin_url=url, origin=f"${PG_ENV}")
    if port_open("127.0.0.1", 5432):
        url = make_url("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
        return Server(dialect="postgresql", admin_url=url, origin="local server 127.0.0.1:5432")
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[Server | str]:
    """Yield a PostgreSQL Server, or a string saying why there is none."""
    found = _pg_from_env_or_local()
    if found is not None:
        yield found
        return
    try:
        with warnings.catch_warnings():
            # platformdirs warns where XDG_RUNTIME_DIR is unset (CI, containers): harmless here
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415 - optional, only on machines without a server
    except ImportError:
        yield (
            f"no PostgreSQL: ${PG_ENV} is unset, nothing listens on 127.0.0.1:5432, "
            "and the embedded pgserver package is not installed (pip install -e '.[test]')"
        )
        return
    with tempfile.TemporaryDirectory(prefix="driftwatch-pg-") as data:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data, cleanup_mode="stop")
        # pgserver listens on a unix socket only; the tests (and driftwatch's URLs in them) speak
        # TCP to 127.0.0.1 as with any other server, so put a local TCP port in front of it
        socket_dir = make_url(server.get_uri()).query["host"]
        proxy = TcpProxy(f"{socket_dir}/.s.PGSQL.5432")
        proxy.start()
        url = make_url(f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/postgres")
        try:
            yield Server(dialect="postgresql", admin_url=url, origin=f"embedded pgserver in {data}")
        finally:
            proxy.stop()
            server.cleanup()


def mysql_server() -> Server | str:
    """A MySQL/MariaDB Server, or a string saying why there is none (no embedded fallback)."""
    if raw := os.environ.get(MYSQL_ENV):
        url = make_url(raw).set(drivername="mysql+aiomysql")
        return Server(dialect="mysql", admin_url=url, origin=f"${MYSQL_ENV}")
    if port_open("127.0.0.1", 3306):
        url = make_url("mysql+aiomysql://root@127.0.0.1:3306/mysql")
        return Server(dialect="mysql", admin_url=url, origin="local server 127.0.0.1:3306")
    return (
        f"no MySQL/MariaDB: ${MYSQL_ENV} is unset and nothing listens on 127.0.0.1:3306 "
        "(there is no embedded MariaDB to fall back on)"
    )


def asyncpg_dsn(url: URL, database: str | None = None) -> str:
    """A DSN for a plain asyncpg connection to the same server (and unix socket) as `url`."""
    url = url.set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def new_database_name() -> str:
    return f"dwtest_{uuid.uuid4().hex[:12]}"


async def _admin_execute(server: Server, statements: list[str]) -> None:
    url = server.admin_url
    if server.dialect == "postgresql":
        import asyncpg  # noqa: PLC0415

        # the DSN keeps a unix-socket host given as ?host=... (pgserver's form)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
    else:
        import aiomysql  # noqa: PLC0415

        conn = await aiomysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            autocommit=True,
        )
        try:
            async with conn.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
        finally:
            conn.close()


def admin_execute(server: Server, *statements: str) -> None:
    """Run maintenance statements (CREATE/DROP DATABASE ...) on the server."""
    asyncio.run(_admin_execute(server, list(statements)))


def create_database(server: Server, name: str) -> URL:
    admin_execute(server, f"CREATE DATABASE {name}")
    return server.database_url(name)


def drop_database(server: Server, name: str) -> None:
    if server.dialect == "postgresql":
        admin_execute(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        admin_execute(server, f"DROP DATABASE IF EXISTS {name}")
