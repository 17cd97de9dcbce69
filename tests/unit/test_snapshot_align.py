"""Snapshots across server versions and scopes: what is aligned, cut down or cached."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from driftwatch.compare.align import align
from driftwatch.compare.diff import diff
from driftwatch.expected.cache import SnapshotCache, cache_key
from driftwatch.snapshot import Column, Scope, Snapshot, Table, View

TOTAL = Column(
    name="total", type="integer", nullable=True, generated="(a * 2)", generated_kind="virtual"
)


def snapshot(version: str, *, columns: tuple[Column, ...] = (TOTAL,), view: str = "x") -> Snapshot:
    return Snapshot(
        dialect="postgresql",
        server_version=version,
        default_schema="public",
        scope=Scope(),
        tables=(Table(schema=None, name="t", columns=columns),),
        views=(View(schema=None, name="v", definition=view),),
    )


def test_same_major_version_is_left_alone() -> None:
    """Two snapshots of one major version are compared as read, with no note."""
    expected = snapshot("15.4")
    assert align(expected, snapshot("15.9")) == (expected, ())


def test_a_virtual_column_of_18_is_stored_on_an_older_server() -> None:
    """Computed() without persisted is virtual on PostgreSQL 18 and stored before it."""
    stored = replace(TOTAL, generated_kind="stored")
    aligned, _notes = align(snapshot("18.1"), snapshot("15.4", columns=(stored,)))
    assert diff(aligned, snapshot("15.4", columns=(stored,))) == []


def test_view_text_across_16_is_not_compared_and_said_so() -> None:
    """PostgreSQL 16 prints views differently: definitions are not compared, a note says so."""
    aligned, notes = align(snapshot("18.1", view="SELECT a"), snapshot("15.4", view="SELECT t.a"))
    assert aligned.views[0].definition == "SELECT t.a"
    assert notes and "18 and 15" in notes[0]


def test_within_cuts_a_snapshot_down_to_a_scope() -> None:
    """A models' snapshot holds every table; a target's scope keeps only what it watches."""
    full = replace(
        snapshot("15.4"),
        tables=tuple(
            Table(schema=s, name=n, columns=())
            for s, n in [(None, "a"), (None, "tmp_x"), ("audit", "log")]
        ),
    )
    cut = full.within(Scope(schemas=(None,), exclude=("tmp_*",)))
    assert [t.name for t in cut.tables] == ["a"]
    assert cut.scope.exclude == ("tmp_*",)


def test_cache_round_trip_and_corrupt_entry(tmp_path: Path) -> None:
    """A cached snapshot reads back equal; a corrupt entry is a miss, not an error."""
    cache = SnapshotCache(tmp_path / "cache")
    key = cache_key("models", "abc")
    assert cache.get(key) is None
    cache.put(key, snapshot("15.4"))
    assert cache.get(key) == snapshot("15.4")
    (tmp_path / "cache" / f"{key}.json").write_text("{not json", encoding="utf-8")
    assert cache.get(key) is None
    assert SnapshotCache(None).get(key) is None
