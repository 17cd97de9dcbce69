"""One notification receiver: its settings, its bounded queue, and the worker delivering it.

The sink side (`Notifier.evaluate`) never awaits: it decides what changed and appends to the
queue, dropping the oldest message when full. The worker delivers the queue in order, retrying
what may succeed later with capped exponential backoff, and for Alertmanager re-sends the
firing alerts so that they do not expire while they are true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

import aiohttp

from driftwatch.notify_conditions import Condition, Policy, Transition, due, report_for, transitions
from driftwatch.notify_delivery import (
    Verdict,
    classify,
    failure_reason,
    redact,
    retry_after_seconds,
    retry_delay,
)
from driftwatch.notify_payloads import alertmanager_body, batches, slack_body, webhook_body
from driftwatch.state import TargetState

log = logging.getLogger("driftwatch.notify")

CLOSING_RETRY_SECONDS = 0.5  # retry pace during the shutdown grace
ALERTMANAGER_BATCH = 64  # alerts per re-send request, as Prometheus sends them
DROP_LOG_SECONDS = 60.0  # at most one "queue full" warning per notifier per minute


class NotifierKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    SLACK = "slack"
    WEBHOOK = "webhook"


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
    dropped: int  # messages lost to a full queue or to shutdown
    errors: int  # failed requests, each retried or given up


class Notifier:
    """One receiver: its dedup state, a bounded queue of transitions, and its worker."""

    def __init__(self, config: NotifierConfig, *, rng: random.Random) -> None:
        self.config = config
        self._rng = rng
        self._queue: deque[Transition] = deque()
        self._current: Transition | None = None
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._announced: dict[str, dict[Condition, datetime]] = {}
        self._active: dict[tuple[str, Condition], Transition] = {}  # Alertmanager re-sends
        self._next_resend: float | None = None
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
        firing = due(since, self.config.policy, now)
        for transition in transitions(state, announced, firing, now):
            self._offer(transition)
        self._announced[state.name] = {
            c: announced.get(c, started) for c, started in firing.items()
        }
        if self._alertmanager:  # re-sends describe what is known now
            for condition in firing:
                key = (state.name, condition)
                if key in self._active:
                    self._active[key] = replace(
                        self._active[key], report=report_for(condition, state)
                    )

    def _offer(self, transition: Transition) -> None:
        if self._alertmanager:
            if transition.firing:
                self._active[transition.key] = transition
            else:
                self._active.pop(transition.key, None)
        if len(self._queue) >= self.config.queue_size:
            self._queue.popleft()
            self._dropped += 1
            self._warn_dropped()
        self._queue.append(transition)
        self._drained.clear()
        self._wakeup.set()
        log.debug("notification queued", extra={"fields": _fields(self.config, transition)})

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
            self._current = None  # left set when cancelled: abandon() counts it as lost

    async def _idle(self) -> bool:
        """Wait for work; True when it is time to re-send the firing alerts instead."""
        self._drained.set()
        self._wakeup.clear()
        timeout = None
        if self._alertmanager and self._active and not self._closing.is_set():
            loop = asyncio.get_running_loop()
            if self._next_resend is None:
                self._next_resend = loop.time() + self.config.resend_interval_seconds
            timeout = max(0.0, self._next_resend - loop.time())
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return True
        return False

    def _encode(self, transitions: Sequence[Transition]) -> bytes:
        if self._alertmanager:
            ttl = 4 * self.config.resend_interval_seconds
            return alertmanager_body(transitions, now=datetime.now(UTC), ttl_seconds=ttl)
        [transition] = transitions
        if self.config.kind is NotifierKind.SLACK:
            return slack_body(transition)
        return webhook_body(transition, notifier=self.config.name)

    async def _deliver(self, session: aiohttp.ClientSession, transition: Transition) -> None:
        attempt = 0
        while True:
            verdict, reason, retry_after = await self._post(session, self._encode([transition]))
            fields = {**_fields(self.config, transition), "attempts": attempt + 1}
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

    def abandon(self) -> int:
        """Count what is still queued as dropped; return how many."""
        left = len(self._queue) + (self._current is not None)
        self._queue.clear()
        self._current = None
        self._dropped += left
        return left


def _fields(config: NotifierConfig, transition: Transition) -> dict[str, object]:
    return {
        "notifier": config.name,
        "type": config.kind.value,
        "target": transition.target,
        "condition": transition.condition.value,
        "status": "firing" if transition.firing else "resolved",
    }
