"""Snapshots of expected states kept on disk, so a check with unchanged code builds nothing.

A key names everything a snapshot depends on (the models' or scripts' content, the
dialect, the scratch server's version); an entry is never updated, only written anew under
another key. The cache is an optimisation: an unreadable or corrupt entry is a miss, and a
folder that cannot be written costs a warning, never a check.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from driftwatch.gc_pause import paused_gc
from driftwatch.snapshot import Snapshot, SnapshotFormatError, from_json, to_json

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/driftwatch, else ~/.cache/driftwatch."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftwatch"


def cache_key(*parts: str) -> str:
    """One key from the parts a snapshot depends on (order matters)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class SnapshotCache:
    """A folder of snapshot files named by key; `None` as folder caches nothing."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.json"

    def get(self, key: str) -> Snapshot | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8")
            with paused_gc():
                return from_json(json.loads(text), origin=str(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, SnapshotFormatError) as exc:
            log.warning("snapshot cache entry ignored", extra={"fields": {"path": str(path),
                        "reason": str(exc)[:200]}})  # fmt: skip
            return None

    def put(self, key: str, snapshot: Snapshot) -> None:
        """Write atomically (a reader never sees half a file); failure is only a warning."""
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(to_json(snapshot), handle, separators=(",", ":"))
                Path(temporary).replace(path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning("snapshot cache not written", extra={"fields": {"path": str(path),
                        "reason": exc.strerror or str(exc)}})  # fmt: skip
