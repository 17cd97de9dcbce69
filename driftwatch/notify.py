"""Webhook notifications from `driftwatch serve`: Alertmanager, Slack-compatible, generic JSON.

`Notifications` is the daemon's event sink and an async context manager that owns one worker
task per notifier (see `notify_queue`). The sink only updates in-memory state and appends to
bounded queues, so a slow or dead receiver never delays a check; on shutdown the queues get a
short grace to flush.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType

import aiohttp

from driftwatch import __version__
from driftwatch.notify_conditions import Condition, present_conditions, track_since
from driftwatch.notify_queue import Notifier, NotifierConfig, NotifierKind, NotifierStats
from driftwatch.state import Event, TargetState

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
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.notifiers = [Notifier(config, rng=rng) for config in configs]
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._since: dict[str, dict[Condition, datetime]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._sessions: list[aiohttp.ClientSession] = []

    def __call__(self, before: TargetState, after: TargetState, events: list[Event]) -> None:
        """The event sink: called after every check, returns at once."""
        del before, events  # conditions are judged on the state itself, transitions per notifier
        since = track_since(self._since.get(after.name, {}), present_conditions(after))
        self._since[after.name] = since
        now = self._clock()
        for notifier in self.notifiers:
            notifier.evaluate(after, since, now)

    def stats(self) -> list[NotifierStats]:
        return [n.stats() for n in self.notifiers]

    async def __aenter__(self) -> Notifications:
        headers = {"User-Agent": f"driftwatch/{__version__}"}
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
        """Give the queues `flush_seconds` to empty, then stop; count what is left as dropped."""
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
        for notifier in self.notifiers:
            left = notifier.abandon()
            if left:
                log.warning(
                    "notifications not delivered before shutdown",
                    extra={"fields": {"notifier": notifier.config.name, "lost": left}},
                )
        for session in self._sessions:
            await session.close()
        self._sessions.clear()
