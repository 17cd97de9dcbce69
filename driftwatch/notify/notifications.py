"""Webhook notifications from `driftwatch serve`: Alertmanager, Slack-compatible, generic JSON.

`Notifications` is the daemon's event sink and an async context manager that owns one worker
task per notifier (see `queue`). The sink only updates in-memory state and appends to
bounded queues, so a slow or dead receiver never delays a check; on shutdown the queues get a
short grace to flush. With a state file (`state_file`), what each receiver was told and
what is still queued outlive the process: a restart goes on where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from types import TracebackType

import aiohttp

from driftwatch import __version__
from driftwatch.notify.conditions import Condition, present_conditions, settled, track_since
from driftwatch.notify.memory import NotifyState, prune
from driftwatch.notify.messages import NotifierKind
from driftwatch.notify.queue import Notifier, NotifierConfig, NotifierStats
from driftwatch.notify.state_file import SAVE_INTERVAL_SECONDS, StateFile, StateWriter
from driftwatch.notify.target import TargetState

__all__ = ["Notifications", "NotifierConfig", "NotifierKind", "NotifierStats"]

log = logging.getLogger("driftwatch.notify")

FLUSH_SECONDS = 5.0  # shutdown grace for the queues, after the checks have drained


class Notifications:
    """The daemon's sink for check results, and the owner of every notifier's worker.

    Enter it on the daemon's AsyncExitStack before the scheduler starts, so that on exit the
    checks drain first and their last transitions are still flushed.
    """

    def __init__(
        self,
        configs: Sequence[NotifierConfig],
        *,
        state_file: StateFile | None = None,
        save_interval: float = SAVE_INTERVAL_SECONDS,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._writer = (
            None
            if state_file is None
            else StateWriter(state_file, self.memory, interval=save_interval)
        )
        self.notifiers = [Notifier(config, rng=rng, on_change=self._changed) for config in configs]
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._since: dict[str, dict[Condition, datetime]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sessions: list[aiohttp.ClientSession] = []

    def __call__(self, after: TargetState) -> None:
        """The state sink: called with each target's new state after every check, returns at
        once. Conditions are judged on the state itself, transitions per notifier."""
        known = self._since.get(after.name, {})
        since = track_since(known, present_conditions(after), known=settled(after))
        if since != known:
            self._changed()
        self._since[after.name] = since
        now = self._clock()
        for notifier in self.notifiers:
            notifier.evaluate(after, since, now)

    def stats(self) -> list[NotifierStats]:
        return [n.stats() for n in self.notifiers]

    # --- across restarts ----------------------------------------------------------------

    def _changed(self) -> None:
        if self._writer is not None:
            self._writer.changed()

    def memory(self) -> NotifyState:
        """What a restart needs to go on where this process is now."""
        return NotifyState(
            since={t: dict(s) for t, s in self._since.items() if s},
            notifiers={n.config.name: n.memory() for n in self.notifiers},
        )

    def restore(self, saved: NotifyState, *, targets: Collection[str]) -> None:
        """Go on from `saved`, less what no longer applies (one info line for each thing
        dropped). Call it before entering."""
        configured = {n.config.name: (n.config.kind, n.config.policy) for n in self.notifiers}
        kept, notes = prune(saved, targets=targets, notifiers=configured)
        for note in notes:
            log.info("saved notification state dropped", extra={"fields": {"detail": note}})
        self._since = {t: dict(s) for t, s in kept.since.items()}
        for notifier in self.notifiers:
            memory = kept.notifiers.get(notifier.config.name)
            if memory is not None:
                notifier.restore(memory)
        log.info(
            "notification state restored",
            extra={"fields": {"targets": len(kept.since),
                              "announced": sum(len(c) for m in kept.notifiers.values()
                                               for c in m.announced.values()),
                              "queued": sum(len(m.queue) for m in kept.notifiers.values())}},
        )  # fmt: skip
        if notes:
            self._changed()  # the file should forget it too

    async def __aenter__(self) -> Notifications:
        headers = {"User-Agent": f"driftwatch/{__version__}"}
        if self._writer is not None:
            self._tasks.append(asyncio.create_task(self._writer.run(), name="notify state file"))
        for notifier in self.notifiers:
            # HTTPS_PROXY / NO_PROXY are honoured, as webhooks often leave through a proxy
            session = aiohttp.ClientSession(headers=headers, trust_env=True)
            self._sessions.append(session)
            self._tasks.append(
                asyncio.create_task(notifier.run(session), name=f"notify {notifier.config.name}")
            )
            log.info(
                "notifier started",
                extra={"fields": {"notifier": notifier.config.name,
                                  "type": notifier.config.kind.value}},
            )  # fmt: skip
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Give the queues `flush_seconds` to empty, then stop; save what is left in the state
        file, or count it as dropped without one (or when it cannot be written)."""
        for notifier in self.notifiers:
            notifier.begin_closing()
        waiting = [asyncio.create_task(n.drained()) for n in self.notifiers]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=self._flush_seconds)
            for task in late:
                task.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        saved = self._writer is not None and await self._writer.save()
        for notifier in self.notifiers:
            left = notifier.abandon(saved=saved)
            if left and saved:
                log.info(
                    "notifications kept in the state file for the next start",
                    extra={"fields": {"notifier": notifier.config.name, "kept": left}},
                )
            elif left:
                log.warning(
                    "notifications not delivered before shutdown",
                    extra={"fields": {"notifier": notifier.config.name, "lost": left}},
                )
        for session in self._sessions:
            await session.close()
        self._sessions.clear()
