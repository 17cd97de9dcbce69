"""Prebuilt expected states: the manifest read back equal, bad manifests refused in one line,
the states a database is compared with chosen from the graph alone, and a folder published
so that a reader never mixes two builds."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from driftwatch.config.targets import Target
from driftwatch.expected.prebuilt import (
    MANIFEST,
    PrebuiltDirs,
    check_publishable,
    publish,
    read_prebuilt,
    state_file,
    state_path,
)
from driftwatch.expected.prebuilt_manifest import (
    Chosen,
    Manifest,
    PrebuiltError,
    choose,
    manifest_document,
    manifest_text,
    parse_manifest,
)
from driftwatch.revisions import ScriptGraph, ScriptRevision
from driftwatch.snapshot import Column, PrimaryKey, Scope, Snapshot, Table


def _table(name: str, *columns: str) -> Table:
    return Table(
        schema=None,
        name=name,
        columns=tuple(Column(name=c, type="integer", nullable=False) for c in ("id", *columns)),
        primary_key=PrimaryKey(name=f"{name}_pkey", columns=("id",)),
    )


def _state(*tables: Table) -> Snapshot:
    return Snapshot(
        dialect="postgresql",
        server_version="15.4",
        default_schema="public",
        scope=Scope(schemas=(None,), exclude=("alembic_version",)),
        tables=tables,
    )


BASE = _state()
A1 = _state(_table("users"))
B2 = _state(_table("users"), _table("orders"))
C3 = _state(_table("users", "active"), _table("orders"))
MODELS = _state(_table("users", "active", "nickname"), _table("orders"))


def _graph(*revisions: tuple[str, tuple[str, ...]]) -> ScriptGraph:
    found = {r: ScriptRevision(revision=r, parents=p, message=f"make {r}") for r, p in revisions}
    built_on = {p for _, parents in revisions for p in parents}
    return ScriptGraph(revisions=found, heads=tuple(r for r in found if r not in built_on))


LINEAR = _graph(("a1", ()), ("b2", ("a1",)), ("c3", ("b2",)))


def _build(
    states: dict[str, Snapshot], *, graph: ScriptGraph = LINEAR, heads: Snapshot = C3
) -> tuple[Manifest, dict[str, bytes]]:
    files: dict[str, bytes] = {}

    def named(snapshot: Snapshot) -> str:
        digest, data = state_file(snapshot)
        files[digest] = data
        return digest

    manifest = Manifest(
        target="shop",
        dialect="postgresql",
        server_version="15.4",
        built_at="2025-01-02T03:04:05Z",
        driftwatch_version="0.1.0",
        scripts_key="s" * 64,
        models_key="m" * 64,
        version_table="alembic_version",
        graph=graph,
        order=tuple(graph.revisions),
        revision_states={rev: named(s) for rev, s in states.items()},
        base_state=named(BASE),
        heads_state=named(heads),
        models_state=named(MODELS),
    )
    return manifest, files


MANIFEST_OF_SHOP, FILES_OF_SHOP = _build({"a1": A1, "b2": B2, "c3": C3})


def _text(**changes: object) -> str:
    document = manifest_document(MANIFEST_OF_SHOP)
    document.update(changes)
    return json.dumps(document)


def _target(folder: Path, url: str = "postgresql://localhost/shop") -> Target:
    return Target(name="shop", url=make_url(url), expected_dir=folder)


def test_a_manifest_reads_back_as_the_same_manifest() -> None:
    """manifest_text, then parse_manifest: equal, graph and states included."""
    parsed = parse_manifest(manifest_text(MANIFEST_OF_SHOP), origin="m.json")

    assert parsed == MANIFEST_OF_SHOP
    assert parsed.graph.heads == ("c3",)
    assert parsed.digests() == frozenset(FILES_OF_SHOP)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "m.json: not JSON"),
        ('{"snapshot": {}}', "m.json: not a manifest of prebuilt expected states"),
        (_text(format_version=2), "m.json: format_version 2 is not the one this driftwatch"),
        (_text(format_version=None), "m.json: format_version None is not the one"),
        (_text(dialect=""), "m.json: dialect must be a non-empty string"),
        (_text(heads_state="../../etc/passwd"), "m.json: heads_state is not a SHA-256 digest"),
        (_text(heads_state="0" * 64 + "\n"), "m.json: heads_state is not a SHA-256 digest"),
        (_text(heads=["zz9"]), "m.json: heads must name revisions of the manifest"),
        (_text(revisions=[]), "m.json: revisions must be a non-empty list"),
        (
            _text(revisions=[{"revision": "b2", "down_revisions": ["a1"], "state": None}]),
            "m.json: revision 'b2' builds on 'a1', not listed before it",
        ),
        (
            _text(revisions=[{"revision": "a 1", "down_revisions": []}]),
            "m.json: revision 'a 1' is not an id, or is listed twice",
        ),
        (
            _text(revisions=[{"revision": "a1", "down_revisions": "none"}]),
            "m.json: down_revisions must be a list of strings",
        ),
    ],
)
def test_a_bad_manifest_is_one_line(text: str, says: str) -> None:
    with pytest.raises(PrebuiltError) as raised:
        parse_manifest(text, origin="m.json")

    assert str(raised.value).startswith(says)
    assert "\n" not in str(raised.value)


def test_a_database_behind_gets_its_state_and_one_step_per_pending_revision() -> None:
    """At a1 with b2 and c3 pending: a1's state, then b2's and c3's as steps, c3's as head."""
    states = MANIFEST_OF_SHOP.revision_states

    chosen = choose(MANIFEST_OF_SHOP, ("a1",), ["b2", "c3"])

    assert chosen == Chosen(
        at_database=states["a1"],
        steps=(("b2", states["b2"]), ("c3", states["c3"])),
        at_head=MANIFEST_OF_SHOP.heads_state,
    )


def test_an_empty_version_table_is_the_base_state() -> None:
    chosen = choose(MANIFEST_OF_SHOP, (), ["a1", "b2", "c3"])

    assert chosen.at_database == MANIFEST_OF_SHOP.base_state
    assert [rev for rev, _ in chosen.steps] == ["a1", "b2", "c3"]


def test_heads_without_a_state_say_so() -> None:
    """Two heads that are not the scripts' heads have no state of their own."""
    chosen = choose(MANIFEST_OF_SHOP, ("b2", "c3"), [])

    assert chosen == Chosen(unavailable="the prebuilt states hold no state at b2,c3")


def test_pending_revisions_on_branches_get_no_steps() -> None:
    """b2 and c2 both build on a1: applied one after the other, the second's step is not
    its own state (which lacks the first), so the steps are left out."""
    graph = _graph(("a1", ()), ("b2", ("a1",)), ("c2", ("a1",)))
    manifest, _ = _build({"a1": A1, "b2": B2, "c2": C3}, graph=graph)

    chosen = choose(manifest, ("a1",), ["b2", "c2"])

    assert chosen.at_database == manifest.revision_states["a1"]
    assert chosen.steps == ()
    assert chosen.at_head == manifest.heads_state
    assert choose(manifest, ("b2", "c2"), []).at_database == manifest.heads_state


def test_a_published_folder_reads_back_its_states(tmp_path: Path) -> None:
    """publish, then read: every state is the snapshot built, the manifest is written, and
    nothing temporary is left behind."""
    folder = tmp_path / "expected"
    publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)

    prebuilt = read_prebuilt(folder, dialect="postgresql")

    states = prebuilt.revision_states(("a1",), ["b2", "c3"])
    assert (states.at_database, states.at_head) == (A1, C3)
    assert [(s.revision, s.snapshot) for s in states.steps] == [("b2", B2), ("c3", C3)]
    assert prebuilt.models() == MODELS
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MANIFEST, *(state_path(folder, d).name for d in FILES_OF_SHOP)]
    )


def test_a_published_build_is_readable_by_a_daemon_of_another_user(tmp_path: Path) -> None:
    """A build holds no secret: its files get the mode a plain open() gives under the
    umask (0644 under 022), not mkstemp's 0600, so a daemon of another uid reads them."""
    folder = tmp_path / "expected"
    previous = os.umask(0o022)
    try:
        publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert set(modes.values()) == {0o644}, modes


def test_a_state_file_that_is_not_its_manifests_is_refused(tmp_path: Path) -> None:
    """A state file altered (or one of another build under its name) is never read as the
    manifest's; a missing one says the copy is incomplete."""
    folder = tmp_path / "expected"
    publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    a1 = state_path(folder, MANIFEST_OF_SHOP.revision_states["a1"])
    a1.write_bytes(FILES_OF_SHOP[MANIFEST_OF_SHOP.revision_states["b2"]])
    state_path(folder, MANIFEST_OF_SHOP.heads_state).unlink()
    prebuilt = read_prebuilt(folder, dialect="postgresql")

    with pytest.raises(PrebuiltError, match="its content is not the one its manifest names"):
        prebuilt.state(MANIFEST_OF_SHOP.revision_states["a1"])
    with pytest.raises(PrebuiltError, match="a state file of the manifest is missing"):
        prebuilt.state(MANIFEST_OF_SHOP.heads_state)


def test_another_dialect_and_a_missing_folder_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "expected"
    with pytest.raises(PrebuiltError, match=r"expected_dir .*: no such folder \(publish one"):
        read_prebuilt(folder, dialect="postgresql")
    publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)

    with pytest.raises(PrebuiltError) as raised:
        PrebuiltDirs().current(_target(folder, "mysql://localhost/shop"))

    assert str(raised.value) == (
        f"target 'shop': {folder / MANIFEST}: states built on postgresql cannot be compared "
        "with a mysql database"
    )


def test_a_new_build_replaces_the_old_and_keeps_its_files_one_build_long(tmp_path: Path) -> None:
    """Publishing again: the manifest names the new states; the previous build's files stay
    (a reader may have just read its manifest), the build before it is removed."""
    folder = tmp_path / "expected"
    d4 = _state(_table("users", "active"), _table("orders"), _table("refunds"))
    graph = _graph(("a1", ()), ("b2", ("a1",)), ("c3", ("b2",)), ("d4", ("c3",)))
    second, second_files = _build({"a1": A1, "b2": B2, "c3": C3, "d4": d4}, graph=graph, heads=d4)
    e5 = replace(d4, tables=(*d4.tables, _table("notes")))
    graph5 = _graph(*[(r, graph.revisions[r].parents) for r in graph.revisions], ("e5", ("d4",)))
    third, third_files = _build(
        {"a1": A1, "b2": B2, "c3": C3, "d4": d4, "e5": e5}, graph=graph5, heads=e5
    )

    publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    publish(folder, second, second_files)
    assert read_prebuilt(folder, dialect="postgresql").manifest == second
    publish(folder, third, third_files)

    on_disk = {p.name for p in folder.glob("state-*.json")}
    assert on_disk == {state_path(folder, d).name for d in {*second_files, *third_files}}
    assert read_prebuilt(folder, dialect="postgresql").manifest.graph.heads == ("e5",)


def test_the_folder_is_read_again_only_when_its_manifest_changed(tmp_path: Path) -> None:
    """The daemon's re-read: the same object while the manifest is untouched, the new build
    once it is replaced, its unchanged states carried over."""
    folder = tmp_path / "expected"
    publish(folder, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    dirs = PrebuiltDirs()
    first = dirs.current(_target(folder))
    first.state(MANIFEST_OF_SHOP.revision_states["a1"])

    assert dirs.current(_target(folder)) is first
    d4 = _state(_table("users", "active"), _table("orders"), _table("refunds"))
    graph = _graph(("a1", ()), ("b2", ("a1",)), ("c3", ("b2",)), ("d4", ("c3",)))
    second, files = _build({"a1": A1, "b2": B2, "c3": C3, "d4": d4}, graph=graph, heads=d4)
    publish(folder, second, files)
    state_path(folder, MANIFEST_OF_SHOP.revision_states["a1"]).unlink()  # carried, not re-read

    now = dirs.current(_target(folder))
    assert now is not first and now.build_id != first.build_id
    assert now.manifest.graph.heads == ("d4",)
    assert now.state(second.revision_states["a1"]) == A1


def test_a_folder_of_something_else_is_never_overwritten(tmp_path: Path) -> None:
    """A non-empty folder without a driftwatch manifest is refused before any work; an
    empty one, a new one and an earlier build are fine."""
    other = tmp_path / "site"
    other.mkdir()
    (other / "index.html").write_text("<p>hello</p>")
    with pytest.raises(PrebuiltError, match="is not empty and holds no driftwatch build"):
        check_publishable(other)
    with pytest.raises(PrebuiltError, match="is not empty and holds no driftwatch build"):
        publish(other, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    assert [p.name for p in other.iterdir()] == ["index.html"]
    with pytest.raises(PrebuiltError, match="does not exist"):
        check_publishable(tmp_path / "no" / "such")
    with pytest.raises(PrebuiltError, match="is not a folder"):
        check_publishable(other / "index.html")

    check_publishable(tmp_path / "new")
    published = tmp_path / "published"
    publish(published, MANIFEST_OF_SHOP, FILES_OF_SHOP)
    check_publishable(published)
