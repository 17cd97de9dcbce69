"""Revision state from plain values: the script graph and the database's heads."""

from __future__ import annotations

import pytest

from driftwatch.revisions import (
    PendingRevision,
    RevisionStateKind,
    ScriptGraph,
    ScriptRevision,
    revision_state,
)


def graph(edges: dict[str, tuple[str, ...]], heads: tuple[str, ...] | None = None) -> ScriptGraph:
    """A graph from {revision: parents}; heads default to revisions nobody builds on."""
    revisions = {
        rev: ScriptRevision(revision=rev, parents=parents, message=f"message of {rev}")
        for rev, parents in edges.items()
    }
    if heads is None:
        built_on = {p for parents in edges.values() for p in parents}
        heads = tuple(rev for rev in edges if rev not in built_on)
    return ScriptGraph(revisions=revisions, heads=heads)


LINEAR = graph({"a1": (), "b2": ("a1",), "c3": ("b2",)})
FORKED = graph({"a1": (), "b2": ("a1",), "left": ("b2",), "right": ("b2",)})
MERGED = graph(
    {"a1": (), "b2": ("a1",), "left": ("b2",), "right": ("b2",), "merge": ("left", "right")}
)


def test_at_head() -> None:
    """Database heads equal to the single script head: at_head, nothing pending, in sync."""
    state = revision_state(LINEAR, ("c3",))

    assert state.kind is RevisionStateKind.AT_HEAD
    assert state.in_sync
    assert (state.database_heads, state.script_heads, state.pending, state.unknown) == (
        ("c3",),
        ("c3",),
        (),
        (),
    )


def test_migrating_whatever_the_heads_say_keeps_what_they_show() -> None:
    """A migration seen running makes the state `migrating`, not in sync, with the pending
    and unknown revisions of the heads read (where it started from)."""
    behind = revision_state(LINEAR, ("a1",), migrating=True)
    unknown = revision_state(LINEAR, ("zz",), migrating=True)
    at_head = revision_state(LINEAR, ("c3",), migrating=True)

    assert {behind.kind, unknown.kind, at_head.kind} == {RevisionStateKind.MIGRATING}
    assert not any(s.in_sync for s in (behind, unknown, at_head))
    assert [p.revision for p in behind.pending] == ["b2", "c3"]
    assert (unknown.unknown, at_head.pending) == (("zz",), ())


def test_behind_lists_pending_oldest_first_with_messages() -> None:
    """A database at a1 has b2 then c3 pending, each with its message."""
    state = revision_state(LINEAR, ("a1",))

    assert state.kind is RevisionStateKind.BEHIND
    assert not state.in_sync
    assert state.pending == (
        PendingRevision(revision="b2", message="message of b2"),
        PendingRevision(revision="c3", message="message of c3"),
    )


def test_pending_order_follows_the_graph_not_the_names() -> None:
    """Revision ids sort against history (random hex ids do): parents still come first."""
    hexes = graph({"ff01": (), "0a02": ("ff01",), "77c3": ("0a02",), "00d4": ("77c3",)})

    state = revision_state(hexes, ())

    assert [p.revision for p in state.pending] == ["ff01", "0a02", "77c3", "00d4"]


def test_merge_pending_after_both_branches() -> None:
    """Behind a merge revision, both branches come before the merge."""
    state = revision_state(MERGED, ("b2",))

    assert state.kind is RevisionStateKind.BEHIND
    order = [p.revision for p in state.pending]
    assert set(order) == {"left", "right", "merge"}
    assert order[-1] == "merge"


def test_database_on_one_branch_of_a_merged_graph_is_behind() -> None:
    """On left of a merged graph: right and the merge are pending (one head, so behind)."""
    state = revision_state(MERGED, ("left",))

    assert state.kind is RevisionStateKind.BEHIND
    assert [p.revision for p in state.pending] == ["right", "merge"]


def test_empty_version_table_is_behind_by_everything() -> None:
    """An empty version table (base) is behind by every revision, not 'no version table'."""
    state = revision_state(LINEAR, ())

    assert state.kind is RevisionStateKind.BEHIND
    assert state.database_heads == ()
    assert [p.revision for p in state.pending] == ["a1", "b2", "c3"]


def test_no_version_table() -> None:
    """None (no version table) is its own state, with everything pending."""
    state = revision_state(LINEAR, None)

    assert state.kind is RevisionStateKind.NO_VERSION_TABLE
    assert state.database_heads is None
    assert [p.revision for p in state.pending] == ["a1", "b2", "c3"]


def test_unknown_revision_is_named() -> None:
    """A database revision the scripts lack is unknown_revision and named; nothing pending."""
    state = revision_state(LINEAR, ("zz99",))

    assert state.kind is RevisionStateKind.UNKNOWN_REVISION
    assert state.unknown == ("zz99",)
    assert state.pending == ()


def test_unknown_beside_a_known_head_is_still_unknown() -> None:
    """One unknown head among known ones makes the whole state unknown_revision."""
    state = revision_state(FORKED, ("left", "zz99"))

    assert state.kind is RevisionStateKind.UNKNOWN_REVISION
    assert state.unknown == ("zz99",)


def test_multiple_script_heads_before_the_fork() -> None:
    """Unmerged heads with the database at their parent: multiple_script_heads, both pending."""
    state = revision_state(FORKED, ("b2",))

    assert state.kind is RevisionStateKind.MULTIPLE_SCRIPT_HEADS
    assert state.script_heads == ("left", "right")
    assert [p.revision for p in state.pending] == ["left", "right"]


def test_multiple_script_heads_all_applied() -> None:
    """A database on every unmerged head: still multiple_script_heads, nothing pending."""
    state = revision_state(FORKED, ("right", "left"))

    assert state.kind is RevisionStateKind.MULTIPLE_SCRIPT_HEADS
    assert state.database_heads == ("left", "right")
    assert state.pending == ()
    assert not state.in_sync


def test_partially_applied_on_one_of_several_heads() -> None:
    """A database on one of two heads is partially_applied with the other branch pending."""
    state = revision_state(FORKED, ("left",))

    assert state.kind is RevisionStateKind.PARTIALLY_APPLIED
    assert [p.revision for p in state.pending] == ["right"]


def test_dependencies_count_as_parents() -> None:
    """A depends_on revision is pending before the revision that depends on it."""
    with_dependency = graph({"a1": (), "x9": (), "b2": ("a1", "x9")}, heads=("b2",))

    state = revision_state(with_dependency, ("a1",))

    assert [p.revision for p in state.pending] == ["x9", "b2"]


def test_long_history_does_not_hit_the_recursion_limit() -> None:
    """Ten thousand linear revisions are ordered without recursion."""
    edges = {"r0": ()} | {f"r{i}": (f"r{i - 1}",) for i in range(1, 10_000)}

    state = revision_state(graph(edges), ("r0",))

    assert state.kind is RevisionStateKind.BEHIND
    assert len(state.pending) == 9_999
    assert state.pending[0].revision == "r1"
    assert state.pending[-1].revision == "r9999"


@pytest.mark.parametrize("heads", [("c3",), ("a1",), (), None, ("zz",)])
def test_every_state_carries_both_sides(heads: tuple[str, ...] | None) -> None:
    """Whatever the state, it names the database heads (sorted) and the script heads."""
    state = revision_state(LINEAR, heads)

    assert state.script_heads == ("c3",)
    assert state.database_heads == (None if heads is None else tuple(sorted(heads)))
