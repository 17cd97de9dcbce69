"""Scratch databases: where expected states are materialised, the only place driftwatch writes.

`ScratchServers.database()` gives a fresh, empty database of its own for the length of a
context, and drops it afterwards, also when the body raises or is cancelled:
- SQLite: in memory (one connection, held for the context);
- PostgreSQL: on the server of `scratch_url` if given, else on an embedded server started on
  first use and stopped by `close()`;
- MySQL/MariaDB: on the server of `scratch_url` only.

A database's name holds the time it was made (`driftwatch_scratch_<hex seconds>_<random hex>`),
since neither server records it: on its first use of a server, driftwatch drops the leftovers
of crashed runs, databases of exactly that form older than an hour that nobody is connected
to. Nothing else on a scratch server is ever touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool

from driftwatch.config.secrets import mask_credentials, mask_url
from driftwatch.config.targets import ASYNC_DRIVERS
from driftwatch.errors import DriftwatchError
from driftwatch.expected.cache import default_cache_dir
from driftwatch.expected.embedded_postgres import EXTRA, EmbeddedPostgres, find_installation
from driftwatch.live.errors import root_cause

log = logging.getLogger(__name__)

NAME_PREFIX = "driftwatch_scratch_"
NAME_PATTERN = re.compile(r"driftwatch_scratch_(?P<created>[0-9a-f]{8})_[0-9a-f]{16}")
LEFTOVER_AGE_SECONDS = 3600
CONNECT_TIMEOUT_SECONDS = 10
ADMIN_TIMEOUT_SECONDS = 60  # one CREATE or DROP DATABASE, connection included
NO_EMBEDDED_SERVER = f"PostgreSQL needs scratch_url, or the embedded server: pip install '{EXTRA}'"
FAMILIES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
T = TypeVar("T")


class ScratchUnavailableError(DriftwatchError):
    """No scratch database can be had for this dialect (the message says why)."""


class ScratchServerError(DriftwatchError):
    """The scratch server refused or failed (cannot connect, cannot create the database)."""


def new_database_name(now: float, token: str) -> str:
    """`driftwatch_scratch_<creation time, hex seconds>_<token: 16 hex digits>`."""
    return f"{NAME_PREFIX}{int(now):08x}_{token}"


def is_leftover(name: str, now: float) -> bool:
    """Whether `name` is a scratch database of driftwatch made more than an hour before `now`."""
    match = NAME_PATTERN.fullmatch(name)
    return match is not None and int(match["created"], 16) + LEFTOVER_AGE_SECONDS <= now


def server_version(engine: AsyncEngine) -> str:
    """The version of the server behind `engine` as snapshots write it: "18.6", "3.45.1",
    "10.11.6-MariaDB" (known once it has connected, as every `database()` engine has)."""
    info = engine.dialect.server_version_info or ()
    version = ".".join(str(part) for part in info if isinstance(part, int))
    return f"{version}-MariaDB" if getattr(engine.dialect, "is_mariadb", False) else version


class ScratchServers:
    """Where expected states are materialised: the only place driftwatch writes. Owns the
    embedded PostgreSQL server when it started one (stopped by close())."""

    def __init__(
        self,
        *,
        runtime_dir: Path | None = None,
        cache_dir: Path | None = None,
        embedded: bool = True,
    ) -> None:
        """`runtime_dir`: where the embedded server gets its private folder (default: the
        temporary folder); `cache_dir`: where its template is kept (default: the user's
        cache folder); `embedded=False` never starts one."""
        self._runtime_base = runtime_dir
        self._cache_dir = cache_dir
        self._embedded_allowed = embedded
        self._embedded: EmbeddedPostgres | None = None
        self._embedded_lock = threading.Lock()  # held while starting or stopping it
        self._swept: set[str] = set()  # servers whose leftovers were looked for
        self._closed = False

    @property
    def embedded_server(self) -> EmbeddedPostgres | None:
        """The embedded server, once started."""
        return self._embedded

    def available(self, dialect: str, scratch_url: URL | None) -> str | None:  # noqa: PLR0911 - one return per reason
        """None when a scratch database can be had; else the one-line reason."""
        family = FAMILIES.get(dialect)
        if family is None:
            return f"no scratch database for dialect {dialect!r}"
        if family == "sqlite":
            return None
        if scratch_url is not None:
            given = FAMILIES.get(scratch_url.get_backend_name())
            if given != family:
                return (
                    f"scratch_url is a {scratch_url.get_backend_name()} URL; "
                    f"a {dialect} database needs a {family} server"
                )
            return None
        if family == "mysql":
            return "MySQL/MariaDB needs scratch_url (there is no embedded MySQL server)"
        if not self._embedded_allowed:
            return "PostgreSQL needs scratch_url (the embedded server is turned off)"
        if find_installation() is None:
            return NO_EMBEDDED_SERVER
        return None

    @contextlib.asynccontextmanager
    async def database(self, dialect: str, scratch_url: URL | None) -> AsyncIterator[AsyncEngine]:
        """A fresh, empty throwaway database; dropped (and the engine disposed) on exit, also
        on error or cancel."""
        reason = self.available(dialect, scratch_url)
        if reason is not None:
            raise ScratchUnavailableError(reason)
        if self._closed:
            raise ScratchServerError("the scratch servers are closed")
        if FAMILIES[dialect] == "sqlite":
            async with _in_memory() as engine:
                yield engine
            return
        if scratch_url is not None:
            server = scratch_url.set(drivername=ASYNC_DRIVERS[scratch_url.get_backend_name()])
        else:
            server = (await asyncio.to_thread(self._running_embedded)).url
        async with self._database_on(server) as engine:
            yield engine

    async def server_url(self, dialect: str, scratch_url: URL | None) -> URL | None:
        """The server `database()` makes databases on, started if it is the embedded one,
        for another process to make its own there (`models_worker`); None for SQLite, whose
        scratch databases are in memory, each process's own."""
        reason = self.available(dialect, scratch_url)
        if reason is not None:
            raise ScratchUnavailableError(reason)
        if FAMILIES[dialect] == "sqlite":
            return None
        if scratch_url is not None:
            return scratch_url
        return (await asyncio.to_thread(self._running_embedded)).url

    async def close(self) -> None:
        """Stop the embedded server if one was started; no database() after this."""
        self._closed = True
        await asyncio.to_thread(self._stop_embedded)

    def _running_embedded(self) -> EmbeddedPostgres:
        with self._embedded_lock:
            if self._closed:
                raise ScratchServerError("the scratch servers are closed")
            if self._embedded is not None and not self._embedded.running:
                self._embedded.stop()  # it died: a new one in a new folder
                self._embedded = None
            if self._embedded is None:
                install = find_installation()
                if install is None:
                    raise ScratchUnavailableError(NO_EMBEDDED_SERVER)
                self._embedded = EmbeddedPostgres.start(
                    install=install,
                    cache_dir=self._cache_dir or default_cache_dir(),
                    runtime_base=self._runtime_base or Path(tempfile.gettempdir()),
                )
            return self._embedded

    def _stop_embedded(self) -> None:
        with self._embedded_lock:
            if self._embedded is not None:
                self._embedded.stop()
                self._embedded = None

    @contextlib.asynccontextmanager
    async def _database_on(self, server: URL) -> AsyncIterator[AsyncEngine]:
        name = new_database_name(time.time(), secrets.token_hex(8))
        try:
            await _admin(server, "create a database", lambda c: self._create(c, server, name))
        except ScratchServerError:
            raise  # refused: there is nothing to drop
        except BaseException:
            await _to_the_end(_drop(server, name, None))  # cancelled midway: it may exist
            raise
        engine = create_async_engine(server.set(database=name), connect_args=_connect_args(server))
        try:
            async with _errors(server, "connect to its scratch database"), engine.connect():
                pass  # the engine now knows the server's version
            yield engine
        finally:
            await _to_the_end(_drop(server, name, engine))

    async def _create(self, conn: AsyncConnection, server: URL, name: str) -> None:
        key = mask_url(server.set(database=None))
        if key not in self._swept:
            self._swept.add(key)
            await _drop_leftovers(conn, server)
        if conn.dialect.name == "postgresql":
            # template0: an empty database, whatever the server's template1 holds
            await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        else:
            await conn.execute(text(f"CREATE DATABASE `{name}`"))


@contextlib.asynccontextmanager
async def _in_memory() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    try:
        async with engine.connect():
            pass  # the engine now knows the library's version
        yield engine
    finally:
        await _to_the_end(engine.dispose())


def _connect_args(server: URL) -> dict[str, Any]:
    if server.get_backend_name() == "postgresql":
        return {
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "server_settings": {"application_name": "driftwatch-scratch"},
        }
    return {"connect_timeout": CONNECT_TIMEOUT_SECONDS}


async def _admin(server: URL, action: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` on a connection of its own to the database named in `server`."""
    engine = create_async_engine(
        server, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=_connect_args(server)
    )
    try:
        async with (
            _errors(server, action),
            asyncio.timeout(ADMIN_TIMEOUT_SECONDS),
            engine.connect() as conn,
        ):
            return await work(conn)
    finally:
        await engine.dispose()


async def _drop_leftovers(conn: AsyncConnection, server: URL) -> None:
    """Drop the scratch databases of crashed runs: old, of our exact name form, unused."""
    if conn.dialect.name == "postgresql":
        names = await conn.scalars(
            text(
                "SELECT d.datname FROM pg_catalog.pg_database d WHERE d.datname LIKE :prefix "
                "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid)"
            ),
            {"prefix": NAME_PREFIX.replace("_", r"\_") + "%"},
        )
        drop = 'DROP DATABASE IF EXISTS "{}"'  # without FORCE: a session that came meanwhile wins
    else:
        names = await conn.scalars(
            text(
                "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                "WHERE SCHEMA_NAME LIKE :prefix AND SCHEMA_NAME NOT IN "
                "(SELECT DB FROM information_schema.PROCESSLIST WHERE DB IS NOT NULL)"
            ),
            {"prefix": NAME_PREFIX.replace("_", r"\_") + "%"},
        )
        drop = "DROP DATABASE IF EXISTS `{}`"
    now = time.time()
    for name in [n for n in names if is_leftover(n, now)]:
        if conn.dialect.name == "mysql" and not await _mysql_has(conn, name):
            continue  # another process dropped it meanwhile
        try:
            await conn.execute(text(drop.format(name)))
        except SQLAlchemyError as exc:
            log.warning(
                "scratch database leftover not dropped",
                extra={"fields": {"server": mask_url(server), "database": name,
                                  "reason": _reason(exc, server)}},
            )  # fmt: skip
        else:
            log.info(
                "scratch database leftover dropped",
                extra={"fields": {"server": mask_url(server), "database": name}},
            )


async def _mysql_has(conn: AsyncConnection, name: str) -> bool:
    query = "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
    return bool((await conn.execute(text(query), {"name": name})).scalar_one())


async def _drop(server: URL, name: str, engine: AsyncEngine | None) -> None:
    """Dispose of the engine and drop the database; a failure leaves a leftover, and a log."""
    if engine is not None:
        await engine.dispose()
    if server.get_backend_name() == "postgresql":
        statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        statement = f"DROP DATABASE IF EXISTS `{name}`"

    async def drop(conn: AsyncConnection) -> None:
        if conn.dialect.name == "mysql" and not await _mysql_has(conn, name):
            return  # MySQL warns of IF EXISTS with nothing to drop (a create cancelled early)
        await conn.execute(text(statement))

    try:
        await _admin(server, "drop its scratch database", drop)
    except ScratchServerError as exc:
        log.warning(
            "scratch database not dropped",
            extra={"fields": {"database": name, "reason": str(exc)}},
        )


async def _to_the_end(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run `cleanup` to its end even if the caller is cancelled meanwhile (then re-cancel)."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


@contextlib.asynccontextmanager
async def _errors(server: URL, action: str) -> AsyncIterator[None]:
    """Failures of the scratch server as one line, without its password."""
    try:
        yield
    except DriftwatchError:
        raise
    except Exception as exc:  # drivers raise their own types for protocol-level failures
        raise ScratchServerError(
            f"scratch server {mask_url(server)}: cannot {action}: {_reason(exc, server)}"
        ) from None


def _reason(exc: BaseException, server: URL) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    root = root_cause(exc)
    lines = str(root).strip().splitlines()
    line = mask_credentials(lines[0] if lines else "")
    if server.password:
        line = line.replace(str(server.password), "***")
    line = f"{type(root).__name__}: {line}" if line else type(root).__name__
    return line if len(line) <= 300 else line[:297] + "..."
