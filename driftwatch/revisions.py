"""Revision state: where the database stands in the migration graph. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class RevisionStateKind(StrEnum):
    AT_HEAD = "at_head"
    BEHIND = "behind"
    UNKNOWN_REVISION = "unknown_revision"
    NO_VERSION_TABLE = "no_version_table"
    MULTIPLE_SCRIPT_HEADS = "multiple_script_heads"
    PARTIALLY_APPLIED = "partially_applied"
    MIGRATING = "migrating"  # a migration was seen running: no verdict until it ends


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptRevision:
    """One migration script: its id, the revisions it builds on, and its message."""

    revision: str
    parents: tuple[str, ...]  # down revisions and dependencies
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptGraph:
    """The migration scripts as plain data: every revision and the heads."""

    revisions: Mapping[str, ScriptRevision]
    heads: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRevision:
    revision: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionState:
    """Where the database is compared with the scripts.

    `database_heads` is None when the database has no version table; an empty tuple when
    the table exists but is empty (migrated down to base).
    """

    kind: RevisionStateKind
    database_heads: tuple[str, ...] | None
    script_heads: tuple[str, ...]
    pending: tuple[PendingRevision, ...]  # oldest first
    unknown: tuple[str, ...]  # database revisions the scripts do not have

    @property
    def in_sync(self) -> bool:
        return self.kind is RevisionStateKind.AT_HEAD


def _ancestry(graph: ScriptGraph, starts: Iterable[str]) -> set[str]:
    """The given revisions and everything they build on."""
    seen: set[str] = set()
    stack = [rev for rev in starts if rev in graph.revisions]
    while stack:
        rev = stack.pop()
        if rev in seen:
            continue
        seen.add(rev)
        stack.extend(p for p in graph.revisions[rev].parents if p in graph.revisions)
    return seen


def _oldest_first(graph: ScriptGraph, revisions: set[str]) -> list[str]:
    """Order `revisions` so that every revision comes after the ones it builds on."""
    ordered: list[str] = []
    placed: set[str] = set()

    def visit(rev: str) -> None:
        # iterative post-order: long linear histories must not hit the recursion limit
        stack: list[tuple[str, bool]] = [(rev, False)]
        while stack:
            current, expanded = stack.pop()
            if current in placed:
                continue
            if expanded:
                placed.add(current)
                ordered.append(current)
                continue
            stack.append((current, True))
            parents = sorted(p for p in graph.revisions[current].parents if p in revisions)
            stack.extend((p, False) for p in reversed(parents) if p not in placed)

    for rev in sorted(revisions):
        visit(rev)
    return ordered


def revision_state(
    graph: ScriptGraph, database_heads: tuple[str, ...] | None, *, migrating: bool = False
) -> RevisionState:
    """Classify `database_heads` (None: no version table) against the script graph.

    `migrating`: a migration was seen running during the check. The state is then
    `migrating` whatever the heads say, with the pending and unknown revisions they show (where
    the migration started from)."""
    found = _classify(graph, database_heads)
    return replace(found, kind=RevisionStateKind.MIGRATING) if migrating else found


def _classify(graph: ScriptGraph, database_heads: tuple[str, ...] | None) -> RevisionState:
    script_heads = tuple(sorted(graph.heads))
    everything = _ancestry(graph, script_heads)

    def state(
        kind: RevisionStateKind, pending: set[str], unknown: tuple[str, ...] = ()
    ) -> RevisionState:
        return RevisionState(
            kind=kind,
            database_heads=None if database_heads is None else tuple(sorted(database_heads)),
            script_heads=script_heads,
            pending=tuple(
                PendingRevision(revision=rev, message=graph.revisions[rev].message)
                for rev in _oldest_first(graph, pending)
            ),
            unknown=unknown,
        )

    if database_heads is None:
        return state(RevisionStateKind.NO_VERSION_TABLE, everything)
    unknown = tuple(sorted(rev for rev in database_heads if rev not in graph.revisions))
    if unknown:
        return state(RevisionStateKind.UNKNOWN_REVISION, set(), unknown)

    pending = everything - _ancestry(graph, database_heads)
    applied_heads = set(database_heads)
    if len(script_heads) > 1:
        if applied_heads and applied_heads < set(script_heads):
            return state(RevisionStateKind.PARTIALLY_APPLIED, pending)
        return state(RevisionStateKind.MULTIPLE_SCRIPT_HEADS, pending)
    if pending:
        return state(RevisionStateKind.BEHIND, pending)
    return state(RevisionStateKind.AT_HEAD, set())
