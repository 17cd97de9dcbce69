"""Snapshot files: a schema snapshot saved by `driftwatch snapshot`, read back by
`driftwatch check --against-snapshot`.

A file is one JSON document: `schema_version` (of this document), where the snapshot came
from (`source`: live or models, the target's name, when it was taken) and the snapshot
itself (`snapshot.to_json`). It never holds a URL: nothing in a Snapshot is one, so no
password can be in it. `snapshot_document` and `parse_snapshot_file` are pure;
`write_snapshot_file` and `read_snapshot_file` touch files (a write is atomic: a reader sees
the old file or the new one, never half of one).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from driftwatch import __version__
from driftwatch.errors import ConfigError
from driftwatch.snapshot import Snapshot, SnapshotFormatError, from_json, to_json

FILE_SCHEMA_VERSION = 1
SOURCES = ("live", "models", "revision")


class SnapshotFileError(ConfigError):
    """A snapshot file that cannot be used: missing, not JSON, another version or dialect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotFile:
    """A snapshot and where it came from, as a file holds them."""

    snapshot: Snapshot
    source: str  # "live" or "models"
    target: str | None  # the target it was taken for
    taken_at: str | None  # ISO 8601, UTC
    path: str = ""  # where it was read from ("" before it is written)

    def describe(self) -> str:
        """One line for a report: which file, and what it holds."""
        of = f" of target {self.target!r}" if self.target else ""
        when = f", taken {self.taken_at}" if self.taken_at else ""
        return f"compared with snapshot file {self.path} ({self.source} snapshot{of}{when})"


def snapshot_document(saved: SnapshotFile, *, now: datetime) -> dict[str, Any]:
    """The JSON document of `saved`, taken at `now` (timezone-aware)."""
    return {
        "schema_version": FILE_SCHEMA_VERSION,
        "source": saved.source,
        "target": saved.target,
        "taken_at": saved.taken_at or now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "driftwatch_version": __version__,
        "snapshot": to_json(saved.snapshot),
    }


def snapshot_text(document: dict[str, Any]) -> str:
    """The document as a file holds it: indented, so two snapshots diff line by line."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def parse_snapshot_file(text: str, *, origin: str) -> SnapshotFile:
    """The snapshot file `text`, read from `origin`; a one-line SnapshotFileError if it is
    not one this driftwatch reads."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SnapshotFileError(f"{origin}: not JSON ({_json_problem(exc)})") from None
    if not isinstance(data, dict) or "snapshot" not in data:
        raise SnapshotFileError(
            f"{origin}: not a driftwatch snapshot file (write one with `driftwatch snapshot`)"
        )
    version = data.get("schema_version")
    if version != FILE_SCHEMA_VERSION:
        raise SnapshotFileError(
            f"{origin}: schema_version {version!r} is not the one this driftwatch reads "
            f"({FILE_SCHEMA_VERSION}); take the snapshot again with this version"
        )
    source, target, taken_at = data.get("source"), data.get("target"), data.get("taken_at")
    if source not in SOURCES:
        raise SnapshotFileError(f"{origin}: source {source!r} is not one of {', '.join(SOURCES)}")
    if not isinstance(target, str | None) or not isinstance(taken_at, str | None):
        raise SnapshotFileError(f"{origin}: target and taken_at must be strings")
    try:
        snapshot = from_json(data["snapshot"], origin=origin)
    except SnapshotFormatError as exc:
        raise SnapshotFileError(str(exc)) from None
    return SnapshotFile(
        snapshot=snapshot, source=source, target=target, taken_at=taken_at, path=origin
    )


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__


def read_snapshot_file(path: Path, *, dialect: str) -> SnapshotFile:
    """The snapshot file at `path`, which must hold a snapshot of a `dialect` database."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotFileError(f"snapshot file {path} does not exist") from None
    except UnicodeDecodeError:
        raise SnapshotFileError(f"snapshot file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise SnapshotFileError(
            f"snapshot file {path} cannot be read: {exc.strerror or exc}"
        ) from None
    saved = parse_snapshot_file(text, origin=str(path))
    if saved.snapshot.dialect != dialect:
        raise SnapshotFileError(
            f"{path}: a snapshot of a {saved.snapshot.dialect} database cannot be compared "
            f"with a {dialect} one"
        )
    return saved


def check_writable(path: Path) -> None:
    """Refuse, before any work, a path whose folder does not exist or that is a folder."""
    if not path.parent.is_dir():
        raise SnapshotFileError(f"--out: folder {path.parent} does not exist")
    if path.is_dir():
        raise SnapshotFileError(f"--out: {path} is a folder")


def write_snapshot_file(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically: a temporary file beside it, synced, renamed."""
    try:
        replace_file(path, text)
    except OSError as exc:
        raise SnapshotFileError(f"--out: cannot write {path}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_file(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file beside it, synced, renamed, and the
    folder synced; raises OSError."""
    folder = path.parent
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes it 0600; a snapshot or a published build holds no secret and is read
        # by others (a daemon of another uid): the mode a plain open() would give
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
    folder_fd = os.open(folder, os.O_RDONLY)  # the rename survives a power cut once synced
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
