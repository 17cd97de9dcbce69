"""Snapshot files: written and read back equal, and every bad file refused in one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from driftwatch.expected.snapshot_file import (
    SnapshotFile,
    SnapshotFileError,
    check_writable,
    parse_snapshot_file,
    read_snapshot_file,
    snapshot_document,
    snapshot_text,
    write_snapshot_file,
)
from driftwatch.snapshot import Column, Index, PrimaryKey, Scope, Snapshot, Table

SNAPSHOT = Snapshot(
    dialect="postgresql",
    server_version="15.4",
    default_schema="public",
    scope=Scope(schemas=(None, "audit"), exclude=("alembic_version",)),
    tables=(
        Table(
            schema=None,
            name="users",
            columns=(Column(name="id", type="integer", nullable=False),),
            primary_key=PrimaryKey(name="users_pkey", columns=("id",)),
            indexes=(Index(name="ix_users_id", unique=False, definition="btree (id)"),),
        ),
    ),
)
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def saved_text(**changes: object) -> str:
    document = snapshot_document(
        SnapshotFile(snapshot=SNAPSHOT, source="live", target="app", taken_at=None), now=NOW
    )
    document.update(changes)
    return snapshot_text(document)


def test_a_written_file_reads_back_as_the_same_snapshot(tmp_path: Path) -> None:
    """write then read: the snapshot is equal, and where it came from is kept."""
    path = tmp_path / "live.json"
    write_snapshot_file(path, saved_text())

    saved = read_snapshot_file(path, dialect="postgresql")

    assert saved.snapshot == SNAPSHOT
    assert (saved.source, saved.target, saved.taken_at) == ("live", "app", "2025-01-02T03:04:05Z")
    assert saved.describe() == (
        f"compared with snapshot file {path} (live snapshot of target 'app', "
        "taken 2025-01-02T03:04:05Z)"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["live.json"]  # no temporary file left


def test_the_document_has_a_schema_version_and_no_url() -> None:
    """The top level says its schema_version; nothing in it is a URL (so no password)."""
    document = json.loads(saved_text())
    assert document["schema_version"] == 1
    assert "url" not in saved_text().lower()


def test_a_failed_write_is_one_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """A rename that fails (the path is a folder) is one line; no temporary file is left."""
    path = tmp_path / "live.json"
    (path / "kept").mkdir(parents=True)
    with pytest.raises(SnapshotFileError, match="cannot write"):
        write_snapshot_file(path, saved_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.json"]
    assert (path / "kept").is_dir()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{", "not JSON (Expecting property name"),
        ("[]", "not a driftwatch snapshot file"),
        ('{"schema_version": 1}', "not a driftwatch snapshot file"),
        (saved_text(schema_version=2), "schema_version 2 is not the one this driftwatch reads"),
        (saved_text(schema_version=None), "schema_version None"),
        (saved_text(source="elsewhere"), "source 'elsewhere' is not one of live, models"),
        (saved_text(target=5), "target and taken_at must be strings"),
        (saved_text(snapshot={"format": 1}), "not a valid snapshot"),
        (saved_text(snapshot={"format": 9}), "snapshot format 9"),
    ],
    ids=["json", "list", "no_snapshot", "version", "no_version", "source", "target", "fields",
         "format"],
)  # fmt: skip
def test_a_bad_file_is_one_line(text: str, says: str) -> None:
    """Each way a file can be wrong is one line that names the file and what is wrong."""
    with pytest.raises(SnapshotFileError) as raised:
        parse_snapshot_file(text, origin="f.json")
    message = str(raised.value)
    assert message.startswith("f.json: ")
    assert says in message
    assert "\n" not in message


def test_a_file_of_another_dialect_is_refused(tmp_path: Path) -> None:
    """A PostgreSQL snapshot is not compared with a MySQL database."""
    path = tmp_path / "pg.json"
    path.write_text(saved_text())
    with pytest.raises(SnapshotFileError, match="a snapshot of a postgresql database cannot be"):
        read_snapshot_file(path, dialect="mysql")


def test_missing_and_binary_files_are_one_line(tmp_path: Path) -> None:
    """A file that is not there, or not text, is named in the error."""
    with pytest.raises(SnapshotFileError, match="does not exist"):
        read_snapshot_file(tmp_path / "none.json", dialect="sqlite")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SnapshotFileError, match="not UTF-8 text"):
        read_snapshot_file(binary, dialect="sqlite")


def test_an_out_path_is_checked_before_any_work(tmp_path: Path) -> None:
    """--out into a missing folder, or onto a folder, is refused at once."""
    with pytest.raises(SnapshotFileError, match="does not exist"):
        check_writable(tmp_path / "nope" / "s.json")
    with pytest.raises(SnapshotFileError, match="is a folder"):
        check_writable(tmp_path)
    check_writable(tmp_path / "s.json")
