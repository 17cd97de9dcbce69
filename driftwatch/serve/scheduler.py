"""The daemon's checks: one scheduled job per target, the latest knowledge of each, drained on stop.

Jobs start spread by jitter, a tick that comes while the target's previous check still runs is
skipped (and said once), and on stop the running checks get a grace period before they are
cancelled. A target that fails is a state, never a crash. The engines and expected states are
the app's (`serve.app`), which opens and closes them; this module only uses them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from driftwatch.bounds import clip, label_value
from driftwatch.check import check_target, failed_report
from driftwatch.compare.baseline import Baseline, read_baseline
from driftwatch.config.secrets import NO_KNOWN_SECRETS, Scrubber
from driftwatch.config.targets import Target
from driftwatch.errors import ConfigError, DriftwatchError
from driftwatch.expected.follow import ModelsFollower
from driftwatch.expected.prebuilt import PrebuiltDirs
from driftwatch.expected.sources import Expected, refresh_scripts
from driftwatch.expected.stamps import stamp
from driftwatch.expected.states import ExpectedStates
from driftwatch.live.errors import scrub
from driftwatch.notify.conditions import Change, Condition, Move, target_changes
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionStateKind

log = logging.getLogger("driftwatch.daemon")

StateSink = Callable[[TargetState], Awaitable[None] | None]  # told each new state


class Scheduler:
    """Schedules checks and keeps each target's latest state; knows nothing of HTTP."""

    def __init__(
        self,
        targets: Sequence[Target],
        expected: dict[str, Expected],
        *,
        interval_seconds: float,
        jitter_seconds: float | None,
        max_age_seconds: float,
        concurrency: int,
        shutdown_grace_seconds: float,
        engines: Mapping[str, AsyncEngine],
        states: ExpectedStates,
        on_state: Sequence[StateSink] = (),
        scrub: Scrubber = NO_KNOWN_SECRETS,
    ) -> None:
        self.targets = {t.name: t for t in targets}
        # built or read once for the daemon's life (one engine per target, NullPool: no
        # connection kept open between checks); whoever opened them closes them
        self._engines = dict(engines)
        self._expected_states = states
        self._models = ModelsFollower(states)  # rebuilds models whose code changed
        self._scrub = scrub  # every report's error passes it on its way in (see _record)
        self._expected = dict(expected)
        self._prebuilt = PrebuiltDirs()  # targets with expected_dir: re-read when published
        self._interval = interval_seconds
        self._jitter = jitter_seconds
        self._max_age = max_age_seconds
        self._gate = asyncio.Semaphore(concurrency)
        self._grace = shutdown_grace_seconds
        self._on_state = list(on_state)
        self._states = {
            t.name: TargetState(name=t.name, dialect=t.dialect, labels=t.labels) for t in targets
        }
        # the baselines were read with the configuration; a change of their file is re-read
        # into here (the targets themselves stay as configured)
        self._baselines = {t.name: t.baseline for t in targets}
        self._baseline_stamps = {
            t.name: stamp((t.baseline_file,)) for t in targets if t.baseline_file is not None
        }
        self._inflight: dict[asyncio.Task[None], str] = {}  # running checks, by target
        self._overrunning: set[str] = set()  # targets whose running check outlived a tick
        self._stopping = False
        self._jobs = AsyncIOScheduler(timezone=UTC)
        self._jobs.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)

    # --- what the HTTP side reads ---------------------------------------------------------

    def snapshot(self) -> list[TargetState]:
        return [self._states[name] for name in sorted(self._states)]

    def ready(self) -> bool:
        return all(state.checked for state in self._states.values())

    def alive(self) -> bool:
        return self._jobs.running and not self._stopping

    def latest_reports(self) -> list[TargetReport]:
        return [s.latest for s in self.snapshot() if s.latest is not None]

    # --- scheduling ---------------------------------------------------------------------

    def interval_of(self, target: Target) -> float:
        return target.interval_seconds or self._interval

    def jitter_of(self, target: Target) -> float:
        if self._jitter is not None:
            return self._jitter
        return min(self.interval_of(target) * 0.1, 30.0)

    def start(self, stack: AsyncExitStack) -> None:
        """Schedule every target's checks until `stack` closes, which drains them."""
        now = datetime.now(UTC)
        for target in self.targets.values():
            interval = self.interval_of(target)
            # first checks right away but spread a little, so a fleet does not stampede
            first = now + timedelta(seconds=random.uniform(0, min(self.jitter_of(target), 2.0)))  # noqa: S311
            self._jobs.add_job(
                self.tick,
                trigger=IntervalTrigger(seconds=interval, jitter=self.jitter_of(target) or None),
                args=[target.name],
                id=target.name,
                name=f"check {target.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(interval)),
                next_run_time=first,
            )
        _SCHEDULER_LOG.addFilter(_quiet_skips)
        stack.callback(_SCHEDULER_LOG.removeFilter, _quiet_skips)
        self._jobs.start()
        stack.push_async_callback(self.drain)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        """A tick came while the target's previous check still ran: say so once per overrun.

        APScheduler itself would warn on every skipped tick, which for a check stuck behind a
        lock for minutes is a line per interval saying the same thing.
        """
        name = str(event.job_id)
        if name in self._overrunning or self._stopping:
            return
        self._overrunning.add(name)
        target = self.targets.get(name)
        log.warning(
            "check outlived its interval: ticks are skipped until it ends",
            extra={
                "fields": {
                    "target": name,
                    "interval_seconds": self.interval_of(target) if target else None,
                    "check_timeout_seconds": target.timeouts.check_timeout_seconds
                    if target
                    else None,
                }
            },
        )

    async def tick(self, name: str) -> None:
        """One scheduled check of one target (APScheduler never runs two of one target)."""
        if self._stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self._inflight[task] = name
        try:
            async with self._gate:
                if self._stopping:
                    return
                report = await self._check(name)
            await self._record(name, report)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # cancelled by drain() after the grace period, which says so in one line; ending
            # normally keeps APScheduler from logging the cancellation as a job's traceback
        finally:
            if task is not None:
                self._inflight.pop(task, None)
            if name in self._overrunning:
                self._overrunning.discard(name)
                log.info("overrun check ended", extra={"fields": {"target": name}})

    async def _check(self, name: str) -> TargetReport:
        target = self.targets[name]
        started_at = datetime.now(UTC)
        expected = None  # with expected_dir, the check reads its prebuilt states
        code_moved = False
        try:
            if target.expected_dir is None:
                expected = await asyncio.to_thread(refresh_scripts, target, self._expected[name])
                expected = await self._models.refresh(target, expected)
                # a comparison made with other scripts or models cannot stand in for a new one
                code_moved = expected is not self._expected[name]
                self._expected[name] = expected
            baseline = await asyncio.to_thread(self._refresh_baseline, target)
        except DriftwatchError as exc:
            return failed_report(target, str(exc), started_at=started_at)
        except Exception as exc:  # a bug: one failed check, never a job's traceback (not
            # BaseException: the daemon stopping cancels this task, and that must go through)
            log.debug("internal error before checking %s", name, exc_info=True)
            detail = clip(scrub(f"{type(exc).__name__}: {exc}", target))  # scrubbed, then cut
            message = f"target {name!r}: internal error: {detail}"
            return failed_report(target, message, started_at=started_at)
        previous = None if code_moved else self._states[name].last_good
        return await check_target(
            replace(target, baseline=baseline),
            expected=expected,
            previous=previous,
            max_age_seconds=self._max_age,
            engine=self._engines[name],
            states=self._expected_states,
            prebuilt_dirs=self._prebuilt,
        )

    def _refresh_baseline(self, target: Target) -> Baseline | None:
        """`target`'s baseline, its file re-read if the file changed since it was read.

        A bad edit fails the target's checks (ConfigError, naming the file) until mended:
        silently keeping the old baseline would judge drift by rules nobody sees any more.
        """
        path = target.baseline_file
        if path is None:
            return target.baseline
        now = stamp((path,))
        if now == self._baseline_stamps.get(target.name):
            return self._baselines[target.name]
        try:
            baseline = read_baseline(path)
        except ConfigError as exc:
            raise ConfigError(exc.message, target=target.name) from None
        self._baselines[target.name] = baseline
        self._baseline_stamps[target.name] = now
        log.info(
            "baseline read",
            extra={"fields": {"target": target.name, "entries": len(baseline.entries)}},
        )
        return baseline

    async def _record(self, name: str, report: TargetReport) -> None:
        # the one door into the daemon's state: /report, metrics, logs and notifications
        # all read from there, so a secret quoted by an error is masked once, here
        report = report.scrubbed(self._scrub)
        before = self._states[name]
        after = before.after(report)
        self._states[name] = after
        log.debug(
            "checked",
            extra={"fields": {"target": name, "kind": report.check_kind, "ok": report.succeeded}},
        )
        for change in target_changes(before, after):
            _log_change(after, change)
        for sink in self._on_state:
            try:
                result = sink(after)
                if result is not None:
                    await result
            except Exception:  # a notifier's bug must not stop the checks
                log.exception("event sink failed", extra={"fields": {"target": name}})

    # --- lifecycle ------------------------------------------------------------------------

    async def drain(self) -> None:
        """Stop taking new checks; let running ones finish within the grace period, then
        cancel the rest (one warning naming them)."""
        self._stopping = True
        # paused, not shut down: shutting APScheduler's asyncio executor down cancels the
        # running checks at once, whatever the grace
        if self._jobs.running:
            self._jobs.pause()
        pending = dict(self._inflight)
        if pending:
            log.info(
                "waiting for running checks",
                extra={"fields": {"running": len(pending), "grace_seconds": self._grace}},
            )
            _done, late = await asyncio.wait(pending, timeout=self._grace)
            if late:
                log.warning(
                    "checks still running after the grace period are cancelled",
                    extra={
                        "fields": {
                            "targets": ",".join(sorted(pending[task] for task in late)),
                            "grace_seconds": self._grace,
                        }
                    },
                )
                for task in late:
                    task.cancel()
                await asyncio.wait(late, timeout=5)
        if self._jobs.running:
            self._jobs.shutdown(wait=False)


_SCHEDULER_LOG = logging.getLogger("apscheduler.scheduler")


def _quiet_skips(record: logging.LogRecord) -> bool:
    """Drop APScheduler's per-tick "maximum number of running instances" warning (see
    Scheduler._skipped, which says it once)."""
    return "maximum number of running instances" not in str(record.msg)


def _log_change(state: TargetState, change: Change) -> None:
    report = state.latest
    fields: dict[str, object] = {"target": state.name, "event": change.word}
    level = logging.INFO
    started = change.move is not Move.ENDED
    if change.condition is Condition.CHECK_FAILING and started and report is not None:
        fields["error"] = report.error
        level = logging.WARNING
    good = state.last_good
    if good is not None and good.revision is not None:
        fields["revision_state"] = good.revision.kind.value
        fields["pending"] = len(good.revision.pending)
        fields["database_heads"] = label_value(good.revision.database_heads or ())
        fields["script_heads"] = label_value(good.revision.script_heads)
    if good is not None and good.schema is not None and good.schema.compared:
        fields["drift"] = len(good.schema.findings)
        if change.condition is Condition.DRIFT and started:
            level = logging.WARNING
    if change.revision not in (None, RevisionStateKind.AT_HEAD, RevisionStateKind.MIGRATING):
        level = logging.WARNING
    log.log(level, change.word.replace("_", " "), extra={"fields": fields})
