"""One notification receiver: its settings, its bounded queue, and the worker delivering it.

The sink side (`Notifier.evaluate`) never awaits: it decides what changed and appends the
rendered message to the queue, dropping the oldest message when full. The worker delivers the
queue in order, retrying what may succeed later with capped exponential backoff, and for
Alertmanager re-sends the firing alerts so that they do not expire while they are true.
What the receiver was told and what is still queued can be saved (`memory`) and given back
after a restart (`restore`); `on_change` says when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from driftwatch.notify.conditions import Condition, Transition, transition
from driftwatch.notify.delivery import (
    Verdict,
    classify,
    failure_reason,
    redact,
    retry_after_seconds,
    retry_delay,
)
from driftwatch.notify.memory import NotifierMemory, Policy, firing_now, transitions
from driftwatch.notify.messages import Message, NotifierKind, batches, encode, render
from driftwatch.notify.target import TargetState

log = logging.getLogger("driftwatch.notify")

CLOSING_RETRY_SECONDS = 0.5  # retry pace during the shutdown grace
ALERTMANAGER_BATCH = 64  # alerts per re-send request, as Prometheus sends them
DROP_LOG_SECONDS = 60.0  # at most one "queue full" warning per notifier per minute


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierConfig:
    """One receiver, validated. `url` (the full endpoint) and `headers` are secrets."""

    name: str
    kind: NotifierKind
    url: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    policy: Policy = field(default_factory=Policy)
    timeout_seconds: float = 10
    queue_size: int = 10_000
    retry_initial_seconds: float = 1
    retry_max_seconds: float = 60
    resend_interval_seconds: float = 60  # Alertmanager: re-send firing alerts this often
    public_url: str | None = None  # the daemon as people reach it: messages link to it

    @property
    def secrets(self) -> tuple[str, ...]:
        parts = urlsplit(self.url)
        return (self.url, parts.path if len(parts.path) > 1 else "", parts.query,
                parts.password or "", *self.headers.values())  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierStats:
    name: str
    kind: NotifierKind
    queued: int  # waiting, including the one being delivered
    capacity: int
    sent: int  # messages delivered
    failed: int  # messages the receiver rejected (given up)
    dropped: int  # messages lost to a full queue or to shutdown (unless saved)
    errors: int  # failed requests, each retried or given up


class Notifier:
    """One receiver: its dedup state, a bounded queue of messages, and its worker."""

    def __init__(
        self,
        config: NotifierConfig,
        *,
        rng: random.Random,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self._rng = rng
        self._on_change = on_change  # what `memory()` returns changed
        self._queue: deque[Message] = deque()
        self._current: Message | None = None
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._announced: dict[str, dict[Condition, datetime]] = {}
        self._active: dict[tuple[str, Condition], Message] = {}  # Alertmanager re-sends
        self._next_resend: float | None = None
        self._first_resend_in = config.resend_interval_seconds
        self._last_drop_log: float | None = None
        self._sent = self._failed = self._dropped = self._errors = 0

    @property
    def _alertmanager(self) -> bool:
        return self.config.kind is NotifierKind.ALERTMANAGER

    def stats(self) -> NotifierStats:
        return NotifierStats(
            name=self.config.name,
            kind=self.config.kind,
            queued=len(self._queue) + (self._current is not None),
            capacity=self.config.queue_size,
            sent=self._sent,
            failed=self._failed,
            dropped=self._dropped,
            errors=self._errors,
        )

    # --- the sink side: never awaits -------------------------------------------------------

    def evaluate(
        self, state: TargetState, since: Mapping[Condition, datetime], now: datetime
    ) -> None:
        """Queue a message for each condition of `state` that started or stopped firing."""
        if not self.config.policy.wants(state.name):
            return
        announced = self._announced.get(state.name, {})
        firing = firing_now(since, announced, self.config.policy, now)
        for change in transitions(state, announced, firing, now):
            self._offer(self._render(change))
        now_announced = {c: announced.get(c, started) for c, started in firing.items()}
        if now_announced != announced:
            self._on_change()
        self._announced[state.name] = now_announced
        if self._alertmanager:  # re-sends describe what is known now
            for condition, started in now_announced.items():
                self._refresh_alert(state, condition, started, now)

    def _render(self, change: Transition) -> Message:
        return render(
            change, self.config.kind, notifier=self.config.name, public_url=self.config.public_url
        )

    def _refresh_alert(
        self, state: TargetState, condition: Condition, since: datetime, now: datetime
    ) -> None:
        change = transition(state, condition, firing=True, since=since, now=now)
        if change.report is None and change.key in self._active:
            return  # restored, and no check of this process has succeeded yet: keep it
        alert = self._render(change)
        if self._active.get(alert.key) != alert:
            self._active[alert.key] = alert
            self._on_change()

    def _offer(self, message: Message) -> None:
        if self._alertmanager:
            if message.firing:
                self._active[message.key] = message
            else:
                self._active.pop(message.key, None)
        if len(self._queue) >= self.config.queue_size:
            self._queue.popleft()
            self._dropped += 1
            self._warn_dropped()
        self._queue.append(message)
        self._drained.clear()
        self._wakeup.set()
        self._on_change()
        log.debug("notification queued", extra={"fields": _fields(self.config, message)})

    # --- across restarts ----------------------------------------------------------------

    def memory(self) -> NotifierMemory:
        """What the receiver was told and what it has still to be told (the message being
        delivered first: it is not known to have arrived)."""
        waiting = [self._current] if self._current is not None else []
        return NotifierMemory(
            kind=self.config.kind,
            announced={t: dict(c) for t, c in self._announced.items() if c},
            alerts=tuple(self._active.values()),
            queue=(*waiting, *self._queue),
        )

    def restore(self, memory: NotifierMemory) -> None:
        """Take back what a previous process saved (already pruned to this configuration).

        Called before the worker starts. Restored firing alerts are re-sent at once: the
        time the daemon was down ate into their endsAt.
        """
        self._announced = {t: dict(c) for t, c in memory.announced.items()}
        if self._alertmanager:
            self._active = {m.key: m for m in memory.alerts}
            self._first_resend_in = 0.0
        self._queue.extend(memory.queue[-self.config.queue_size :])
        self._dropped += len(memory.queue) - len(self._queue)  # queue_size was lowered
        if self._queue:
            self._drained.clear()
            self._wakeup.set()

    def _warn_dropped(self) -> None:
        now = time.monotonic()
        if self._last_drop_log is None or now - self._last_drop_log >= DROP_LOG_SECONDS:
            self._last_drop_log = now
            log.warning(
                "notification queue full: dropping the oldest",
                extra={"fields": {"notifier": self.config.name, "dropped_total": self._dropped,
                                  "queue_size": self.config.queue_size}},
            )  # fmt: skip

    # --- the worker ---------------------------------------------------------------------

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Deliver the queue in order, for ever (cancelled at shutdown)."""
        while True:
            if not self._queue:
                if await self._idle():
                    try:
                        await self._resend(session)
                    except Exception:  # same as below: keep the worker alive
                        log.exception(
                            "re-sending firing alerts failed",
                            extra={"fields": {"notifier": self.config.name}},
                        )
                continue
            self._current = self._queue.popleft()
            try:
                await self._deliver(session, self._current)
            except Exception:  # a bug must cost one message, not every later one
                self._failed += 1
                log.exception(
                    "notification could not be built or sent",
                    extra={"fields": _fields(self.config, self._current)},
                )
            self._current = None  # left set when cancelled: saved, or counted as lost
            self._on_change()

    async def _idle(self) -> bool:
        """Wait for work; True when it is time to re-send the firing alerts instead."""
        self._drained.set()
        self._wakeup.clear()
        timeout = None
        if self._alertmanager and self._active and not self._closing.is_set():
            loop = asyncio.get_running_loop()
            if self._next_resend is None:
                self._next_resend = loop.time() + self._first_resend_in
            timeout = max(0.0, self._next_resend - loop.time())
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return True
        return False

    def _encode(self, messages: Sequence[Message]) -> bytes:
        ttl = 4 * self.config.resend_interval_seconds
        return encode(messages, self.config.kind, now=datetime.now(UTC), ttl_seconds=ttl)

    async def _deliver(self, session: aiohttp.ClientSession, message: Message) -> None:
        attempt = 0
        while True:
            verdict, reason, retry_after = await self._post(session, self._encode([message]))
            fields = {**_fields(self.config, message), "attempts": attempt + 1}
            if verdict is Verdict.DELIVERED:
                self._sent += 1
                self._schedule_resend()
                log.info("notification sent", extra={"fields": fields})
                return
            self._errors += 1
            if verdict is Verdict.REJECTED:
                self._failed += 1
                log.error("notification rejected", extra={"fields": {**fields, "reason": reason}})
                return
            delay = retry_delay(
                attempt,
                initial=self.config.retry_initial_seconds,
                cap=self.config.retry_max_seconds,
                jitter=self._rng.random(),
                retry_after=retry_after,
            )
            if self._closing.is_set():
                delay = min(delay, CLOSING_RETRY_SECONDS)
            if attempt & (attempt + 1) == 0:  # attempts 1, 2, 4, 8 ...: a log that stays short
                log.warning(
                    "notification not delivered, will retry",
                    extra={"fields": {**fields, "reason": reason, "retry_in": round(delay, 2)}},
                )
            attempt += 1
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when shutdown starts, to try once more within the grace."""
        if self._closing.is_set():
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _schedule_resend(self) -> None:
        if self._alertmanager:
            loop = asyncio.get_running_loop()
            self._next_resend = loop.time() + self.config.resend_interval_seconds

    async def _resend(self, session: aiohttp.ClientSession) -> None:
        """Alertmanager forgets an alert not re-sent before its endsAt: re-send the firing ones."""
        self._schedule_resend()
        for batch in batches(list(self._active.values()), ALERTMANAGER_BATCH):
            verdict, reason, _ = await self._post(session, self._encode(batch))
            if verdict is not Verdict.DELIVERED:
                self._errors += 1
                log.warning(
                    "re-sending firing alerts failed",
                    extra={"fields": {"notifier": self.config.name, "reason": reason}},
                )
                return

    async def _post(
        self, session: aiohttp.ClientSession, body: bytes
    ) -> tuple[Verdict, str, float | None]:
        timeout = self.config.timeout_seconds
        try:
            async with session.post(
                self.config.url,
                data=body,
                headers={"Content-Type": "application/json", **self.config.headers},
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                answer = await response.content.read(1024)
                status = response.status
                retry_after = retry_after_seconds(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Verdict.RETRY, failure_reason(exc, timeout), None
        text = redact(answer.decode("utf-8", "replace"), self.config.secrets)
        reason = f"HTTP {status}" + (f": {text}" if text else "")
        return classify(status), reason, retry_after

    # --- shutdown -----------------------------------------------------------------------

    def begin_closing(self) -> None:
        self._closing.set()
        self._wakeup.set()

    async def drained(self) -> None:
        await self._drained.wait()

    def abandon(self, *, saved: bool) -> int:
        """Let go of what is still queued, counted as dropped unless it was `saved` for the
        next start; return how many."""
        left = len(self._queue) + (self._current is not None)
        self._queue.clear()
        self._current = None
        if not saved:
            self._dropped += left
        return left


def _fields(config: NotifierConfig, message: Message) -> dict[str, object]:
    return {
        "notifier": config.name,
        "type": config.kind.value,
        "target": message.target,
        "condition": message.condition.value,
        "status": "firing" if message.firing else "resolved",
    }
