"""Every revision's state, replayed in the scratch database: what `driftwatch snapshot build`
publishes (see `prebuilt`).

A check replays to the database's revision and the pending ones (`states`); a build does not
know the database, so it replays them all: along one chain of revisions one replay serves,
a snapshot after each; where the history branches or merges, a fresh scratch database is
replayed up to the revision. A migration that fails fails the build: states with a hole
would be published as complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from driftwatch.expected import replay
from driftwatch.expected.scratch import ScratchServers, ScratchUnavailableError
from driftwatch.expected.states import ReplayPlan, replay_scope
from driftwatch.live.snapshot import read_snapshot
from driftwatch.revisions import ScriptGraph
from driftwatch.snapshot import Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class EveryRevision:
    """The migrations' state at every revision they can be replayed to."""

    order: tuple[str, ...]  # every revision, oldest first
    at: dict[str, Snapshot]  # absent: what a replay_stamp stands for
    base: Snapshot | None  # an empty version table; None when the replay starts stamped
    heads: Snapshot


def chains(
    order: tuple[str, ...], graph: ScriptGraph, stamped: frozenset[str]
) -> Iterator[list[str]]:
    """`order` (oldest first) cut where a revision does not build on the one before alone;
    the revisions in `stamped` (a replay_stamp and what it builds on) are left out."""
    chain: list[str] = []
    for rev in order:
        if rev in stamped:
            continue
        if chain and graph.revisions[rev].parents != (chain[-1],):
            yield chain
            chain = []
        chain.append(rev)
    if chain:
        yield chain


async def replay_every_revision(
    scratch: ScratchServers, plan: ReplayPlan, graph: ScriptGraph
) -> EveryRevision:
    """Each revision's state, the base's and the heads' (see the module's docstring)."""
    unavailable = scratch.available(plan.dialect, plan.scratch_url)
    if unavailable is not None:
        raise ScratchUnavailableError(f"no scratch database to replay in: {unavailable}")
    directory = plan.directory
    order = tuple(reversed([script.revision for script in directory.walk_revisions()]))
    stamped: frozenset[str] = frozenset()
    if plan.stamp is not None:
        stamped = frozenset(s.revision for s in directory.iterate_revisions(plan.stamp, "base"))
    at: dict[str, Snapshot] = {}
    start = (await _replay(scratch, plan, []))["<start>"]
    if plan.stamp is not None:  # the bootstrap's state is the stamped revision's
        at[directory.get_revision(plan.stamp).revision] = start
    for chain in chains(order, graph, stamped):
        at.update(await _replay(scratch, plan, chain))
    heads = sorted(graph.heads)
    at_heads = (
        at[heads[0]] if len(heads) == 1 else (await _replay(scratch, plan, ["heads"]))["heads"]
    )
    return EveryRevision(
        order=order, at=at, base=None if plan.stamp is not None else start, heads=at_heads
    )


async def _replay(
    scratch: ScratchServers, plan: ReplayPlan, chain: list[str]
) -> dict[str, Snapshot]:
    """One replay in a fresh scratch database: bootstrapped (`<start>` when `chain` is
    empty), then upgraded to each revision of `chain` in turn, a snapshot after each."""
    scope = replay_scope(plan)
    taken: dict[str, Snapshot] = {}

    def run(conn: Connection) -> None:
        replay.bootstrap(conn, plan.directory, hook=plan.bootstrap, stamp=plan.stamp,
                         version_table=plan.version_table)  # fmt: skip
        if not chain:
            taken["<start>"] = read_snapshot(conn, scope)
        for destination in chain:
            replay.upgrade(conn, plan.directory, destination, metadata=plan.metadata,
                           version_table=plan.version_table)  # fmt: skip
            taken[destination] = read_snapshot(conn, scope)

    async with (
        scratch.database(plan.dialect, plan.scratch_url) as engine,
        engine.connect() as conn,
    ):
        await conn.run_sync(run)
    return taken
