"""The daemon's schema history: a state sink that records each target's changes.

With a state file, the history is read from beside it at start and saved there when it
changes (at most once a second, in a thread, never on the path of a check: `StateWriter`);
without one it lives as long as the process. Enter it on the daemon's stack before the
scheduler starts, so the last checks' entries are saved on the way out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from driftwatch.history.entries import Entry, TargetHistory, bounded, history_json, record
from driftwatch.history.store import load_history
from driftwatch.notify.state_file import StateFile, StateWriter
from driftwatch.notify.target import TargetState


class HistoryKeeper:
    def __init__(
        self,
        path: Path | None,
        *,
        targets: Collection[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = path
        self._clock = clock
        self._histories = {} if path is None else _kept(load_history(path), targets, clock())
        self._writer = (
            None
            if path is None
            else StateWriter(StateFile(path), self.histories, encode=history_json)
        )
        self._task: asyncio.Task[None] | None = None

    def __call__(self, state: TargetState) -> None:
        """The state sink: record what the check that made `state` changed."""
        before = self._histories.get(state.name, TargetHistory())
        at = state.latest.started_at if state.latest is not None else self._clock()
        after = record(before, state, at)
        if after is not before:
            self._histories[state.name] = after
            if self._writer is not None:
                self._writer.changed()

    def entries(self, name: str) -> tuple[Entry, ...]:
        """`name`'s history, oldest first."""
        history = self._histories.get(name)
        return () if history is None else bounded(history.entries, self._clock())

    def histories(self) -> dict[str, TargetHistory]:
        return dict(self._histories)

    async def __aenter__(self) -> HistoryKeeper:
        if self._writer is not None:
            self._task = asyncio.create_task(self._writer.run(), name="history file")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._writer is not None:
            await self._writer.save()


def _kept(
    saved: dict[str, TargetHistory], targets: Collection[str], now: datetime
) -> dict[str, TargetHistory]:
    """The saved histories within their bounds; a target no longer configured keeps its
    history (it may come back) until its newest entry is older than MAX_AGE."""
    kept = {}
    for name, history in saved.items():
        entries = bounded(history.entries, now)
        if name in targets or entries:
            kept[name] = TargetHistory(observed=history.observed, entries=entries)
    return kept
