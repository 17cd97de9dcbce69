"""The notifications' state file (`state_file`): read once at start, written atomically.

A missing file is a first start. A file that cannot be read or understood does not stop the
monitoring: it is moved aside (`<file>.corrupt-<time>`) with one warning, and the daemon
starts afresh. Writes go to a temporary file in the same folder, fsynced, then renamed over
the old one, so a crash leaves the old state or the new one, never half of one; the file is
readable by its owner alone. `StateWriter` writes when the state changed, at most once per
`SAVE_INTERVAL_SECONDS`, in a thread, never on the path of a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from driftwatch.errors import ConfigError
from driftwatch.notify.memory import NotifyState, StateError, state_from_json, state_json

log = logging.getLogger("driftwatch.notify")

SAVE_INTERVAL_SECONDS = 1.0  # at most one write per second under churn
RETRY_SECONDS = 10.0  # after a failed write


class StateFile:
    """Where the state lives; all of its file-system work."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def check_writable(self) -> None:
        """ConfigError, one line, unless a file can be made beside the state file."""
        folder = self.path.parent
        if self.path.is_dir():
            raise ConfigError(f"state_file {self.path}: is a directory")
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".probe")
        except OSError as exc:
            raise ConfigError(
                f"state_file {self.path}: cannot write in {folder}: {exc.strerror}"
            ) from None
        os.close(fd)
        Path(probe).unlink()

    def load(self) -> NotifyState | None:
        """The saved state; None on a first start, or (after moving it aside, with a
        warning) when the file cannot be used."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            reason = f"cannot be read: {exc.strerror}"
        else:
            try:
                return state_from_json(json.loads(raw))
            except StateError as exc:
                reason = f"not a state file this driftwatch reads: {exc}"
            except ValueError as exc:  # not JSON, or not UTF-8
                reason = f"not JSON: {exc}"
        aside = self._move_aside()
        log.warning(
            "state file unusable: starting without it",
            extra={"fields": {"state_file": str(self.path), "reason": reason,
                              "moved_to": str(aside) if aside else None}},
        )  # fmt: skip
        return None

    def _move_aside(self) -> Path | None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            self.path.replace(aside)
        except OSError:
            return None
        return aside

    def write(self, data: bytes) -> None:
        """Replace the file with `data` atomically (blocking: call it from a thread)."""
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp made it 0600
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            Path(temporary).replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise
        # the rename itself survives a power cut only once the folder is synced too
        folder_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_fd)
        finally:
            os.close(folder_fd)


class StateWriter:
    """Writes `encode(snapshot())` to the state file when told it changed."""

    def __init__(
        self,
        file: StateFile,
        snapshot: Callable[[], Any],
        *,
        interval: float = SAVE_INTERVAL_SECONDS,
        encode: Callable[[Any], dict[str, Any]] = state_json,
    ) -> None:
        self.file = file
        self._snapshot = snapshot
        self._encode = encode  # the snapshot as the file's document (the history's, too)
        self._interval = interval
        self._dirty = asyncio.Event()
        self._lock = threading.Lock()  # one write at a time, the newest state last
        self._taken = 0  # snapshots taken
        self._written = 0  # the newest snapshot on disk
        self._last: bytes | None = None
        self._failing = False

    def changed(self) -> None:
        """The state changed: write it soon. Returns at once."""
        self._dirty.set()

    async def run(self) -> None:
        """Write on every change, at most once per interval, until cancelled."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if await self.save():
                await asyncio.sleep(self._interval)
            else:
                self._dirty.set()
                await asyncio.sleep(max(self._interval, RETRY_SECONDS))

    async def save(self) -> bool:
        """Write the state as it is now; False (logged) when it could not be written."""
        self._taken += 1
        document = self._encode(self._snapshot())  # a consistent copy, taken on the loop
        return await asyncio.to_thread(self._write, document, self._taken)

    def _write(self, document: dict[str, Any], taken: int) -> bool:
        data = json.dumps(document, separators=(",", ":")).encode()
        with self._lock:
            if taken < self._written:  # a newer state is on disk already
                return True
            if data != self._last:
                try:
                    self.file.write(data)
                except OSError as exc:
                    self._log_failure(exc)
                    return False
            self._written, self._last = taken, data
        if self._failing:
            self._failing = False
            log.info("state file written again", extra={"fields": self._fields()})
        return True

    def _log_failure(self, exc: OSError) -> None:
        if not self._failing:  # once per spell of failures, not once per second
            self._failing = True
            log.warning(
                "state file could not be written; will retry",
                extra={"fields": {**self._fields(), "reason": exc.strerror or str(exc)}},
            )

    def _fields(self) -> dict[str, object]:
        return {"state_file": str(self.file.path)}
