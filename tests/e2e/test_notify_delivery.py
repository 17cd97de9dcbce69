"""Notification delivery against real HTTP receivers on localhost: retries, order, shutdown.

The sink is driven with hand-built target states (no database); the receivers are real
aiohttp servers that fail, hang, refuse connections and recover on command.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from driftwatch.notify.build import endpoint
from driftwatch.notify.conditions import Condition
from driftwatch.notify.memory import Policy
from driftwatch.notify.notifications import Notifications, NotifierConfig, NotifierKind
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from tests.support.receivers import Received, Receiver, receiver
from tests.unit.test_notify_conditions import AT_HEAD, ROGUE, at, failed, good

FAST = {"retry_initial_seconds": 0.1, "retry_max_seconds": 0.8, "timeout_seconds": 2.0}


class Clock:
    def __init__(self) -> None:
        self.now = at(0)

    def __call__(self) -> datetime:
        return self.now


class Driver:
    """Feeds check results to the sink the way the daemon does."""

    def __init__(self, sink: Notifications, clock: Clock, name: str = "cp") -> None:
        self.sink = sink
        self.clock = clock
        self.state = TargetState(name=name, dialect="postgresql", labels={"team": "db"})

    def check(self, report: TargetReport) -> None:
        self.state = self.state.after(report)
        self.clock.now = report.started_at
        self.sink(self.state)

    def flap(self, start: int, times: int) -> None:
        """`times` drift transitions: firing, resolved, firing ..."""
        for i in range(times):
            findings = (ROGUE,) if i % 2 == 0 else ()
            self.check(good(at(start + 60 * i), AT_HEAD, *findings))


def config(kind: NotifierKind, url: str, **extra: object) -> NotifierConfig:
    values: dict[str, object] = {**FAST, **extra}
    return NotifierConfig(
        name=f"test-{kind.value}",
        kind=kind,
        url=endpoint(kind, url, "test"),
        **values,  # type: ignore[arg-type]
    )


async def until(what: str, predicate: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def said(requests: list[Received]) -> list[tuple[str, str]]:
    return [(r.body["condition"], r.body["status"]) for r in requests]


def test_failing_receiver_that_recovers_gets_everything_in_order() -> None:
    """A receiver answering 503 is retried with growing gaps; recovered, it gets all in order."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.WEBHOOK, hook.url("/hook"))], clock=clock
        )
        async with notifications:
            drive = Driver(notifications, clock)
            drive.check(good(at(0), AT_HEAD, ROGUE))  # drift firing
            drive.check(failed(at(60)))  # check_failing firing
            drive.check(good(at(120), AT_HEAD, ROGUE))  # check_failing resolved
            drive.check(good(at(180), AT_HEAD))  # drift resolved
            await until("6 attempts", lambda: len(hook.requests) >= 6)
            [stats] = notifications.stats()
            assert stats.queued == 4
            assert stats.sent == 0
            hook.status = 200
            await until("all delivered", lambda: len(hook.accepted) == 4)
            [stats] = notifications.stats()
            assert (stats.sent, stats.failed, stats.dropped, stats.queued) == (4, 0, 0, 0)
            assert stats.errors >= 6

        assert said(hook.accepted) == [
            ("drift", "firing"), ("check_failing", "firing"), ("check_failing", "resolved"),
            ("drift", "resolved"),
        ]  # fmt: skip
        first = [r for r in hook.requests if r.body["id"] == hook.accepted[0].body["id"]]
        assert len(first) >= 6  # the same message, retried, until it was accepted
        gaps = [b.at - a.at for a, b in itertools.pairwise(first)]
        for attempt, gap in enumerate(gaps[:5]):
            # backoff doubles from 0.1 s up to 0.8 s; jitter takes off at most half
            assert gap >= 0.5 * min(0.8, 0.1 * 2**attempt) - 0.02, (attempt, gaps)
        assert all(r.path == "/hook" for r in hook.requests)
        assert all(r.headers["Content-Type"] == "application/json" for r in hook.requests)
        assert all(r.headers["User-Agent"].startswith("driftwatch/") for r in hook.requests)

    with receiver() as hook:
        hook.status = 503
        asyncio.run(scenario(hook))


def test_refused_connections_then_listening_again_loses_nothing() -> None:
    """While nothing listens, messages wait in the queue; the receiver gets all once it is back."""

    async def scenario(chat: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.SLACK, chat.url("/services/T/B/x"))], clock=clock
        )
        async with notifications:
            Driver(notifications, clock).flap(0, 5)
            await until("3 refused attempts", lambda: notifications.stats()[0].errors >= 3)
            assert chat.requests == []
            chat.start()
            await until("all delivered", lambda: len(chat.accepted) == 5)
        texts = [r.body["text"] for r in chat.accepted]
        assert [t.split("*")[1] for t in texts] == [
            "FIRING",
            "RESOLVED",
            "FIRING",
            "RESOLVED",
            "FIRING",
        ]
        assert all("DriftwatchSchemaDrift* on `cp`" in t for t in texts)

    with receiver(started=False) as chat:
        asyncio.run(scenario(chat))


def test_sink_returns_at_once_while_the_receiver_hangs() -> None:
    """A receiver that never answers costs the checks nothing: requests time out and are retried."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.WEBHOOK, hook.url(), timeout_seconds=0.3)], clock=clock
        )
        async with notifications:
            drive = Driver(notifications, clock)
            began = time.monotonic()
            drive.flap(0, 200)
            assert time.monotonic() - began < 5  # liveness: 200 checks never waited on HTTP
            await until("two timeouts", lambda: notifications.stats()[0].errors >= 2)
            hook.delay = 0
            await until("all delivered", lambda: len(hook.accepted) == 200)
        assert said(hook.accepted)[:2] == [("drift", "firing"), ("drift", "resolved")]

    with receiver() as hook:
        hook.delay = 30
        asyncio.run(scenario(hook))


def test_rejected_message_is_given_up_and_the_next_is_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 4xx answer is final for that message: logged once, counted, and the queue moves on."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        notifications = Notifications([config(NotifierKind.WEBHOOK, hook.url())], clock=clock)
        async with notifications:
            Driver(notifications, clock).flap(0, 2)
            await until("the second delivered", lambda: len(hook.accepted) == 1)
            [stats] = notifications.stats()
            assert (stats.sent, stats.failed, stats.errors) == (1, 1, 1)
        assert [r.status for r in hook.requests] == [400, 200]
        assert said(hook.accepted) == [("drift", "resolved")]

    with receiver() as hook:
        hook.script.append(400)
        hook.answer = '{"error": "unknown field"}'
        with caplog.at_level(logging.INFO, logger="driftwatch.notify"):
            asyncio.run(scenario(hook))
    rejected = [r for r in caplog.records if r.getMessage() == "notification rejected"]
    assert len(rejected) == 1
    assert rejected[0].fields["reason"] == 'HTTP 400: {"error": "unknown field"}'  # type: ignore[attr-defined]


def test_429_retry_after_is_honoured() -> None:
    """A 429 with Retry-After waits at least that long before the next attempt."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.WEBHOOK, hook.url(), retry_initial_seconds=0.01)], clock=clock
        )
        async with notifications:
            Driver(notifications, clock).flap(0, 1)
            await until("delivered", lambda: len(hook.accepted) == 1)
        first, second = hook.requests
        assert (first.status, second.status) == (429, 200)
        assert second.at - first.at >= 0.95

    with receiver() as hook:
        hook.script.append(429)
        hook.retry_after = "1"
        asyncio.run(scenario(hook))


def test_full_queue_drops_the_oldest_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Past queue_size the oldest messages go, counted and warned about once; the rest arrive."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.WEBHOOK, hook.url(), queue_size=3)], clock=clock
        )
        async with notifications:
            Driver(notifications, clock).flap(0, 8)  # no await in between: the worker waits
            [stats] = notifications.stats()
            assert (stats.queued, stats.dropped, stats.capacity) == (3, 5, 3)
            hook.start()
            await until("delivered", lambda: len(hook.accepted) == 3)
        changed = [r.body["changed_at"] for r in hook.accepted]
        assert changed == ["2026-11-24T06:05:00Z", "2026-11-24T06:06:00Z", "2026-11-24T06:07:00Z"]

    with receiver(started=False) as hook, caplog.at_level(logging.WARNING, "driftwatch.notify"):
        asyncio.run(scenario(hook))
    full = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(full) == 1


def test_shutdown_flushes_a_healthy_queue_and_gives_up_on_a_dead_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On exit a healthy queue is delivered; a dead receiver holds exit only for the grace."""

    async def scenario(live: Receiver, dead: Receiver) -> float:
        clock = Clock()
        notifications = Notifications(
            [
                NotifierConfig(name="live", kind=NotifierKind.WEBHOOK, url=live.url(), **FAST),  # type: ignore[arg-type]
                NotifierConfig(
                    name="dead",
                    kind=NotifierKind.WEBHOOK,
                    url=dead.url(),
                    retry_initial_seconds=30,
                    retry_max_seconds=60,
                ),
            ],
            clock=clock,
            flush_seconds=1.5,
        )
        async with notifications:
            Driver(notifications, clock).flap(0, 3)
            await until("a failed attempt", lambda: notifications.stats()[1].errors >= 1)
            began = time.monotonic()
        elapsed = time.monotonic() - began
        live_stats, dead_stats = notifications.stats()
        assert (live_stats.sent, live_stats.dropped, live_stats.queued) == (3, 0, 0)
        assert (dead_stats.sent, dead_stats.dropped, dead_stats.queued) == (0, 3, 0)
        # the 30 s backoff was cut short: shutdown tried again within the grace
        assert dead_stats.errors >= 2
        return elapsed

    with receiver() as live, receiver(started=False) as dead:
        with caplog.at_level(logging.WARNING, "driftwatch.notify"):
            elapsed = asyncio.run(scenario(live, dead))
        assert len(live.accepted) == 3
    assert elapsed < 10  # liveness: the grace is 1.5 s
    lost = [
        r for r in caplog.records if r.getMessage() == "notifications not delivered before shutdown"
    ]
    assert [r.fields for r in lost] == [{"notifier": "dead", "lost": 3}]  # type: ignore[attr-defined]


def test_alertmanager_gets_re_sends_while_firing_and_ends_at_on_resolve() -> None:
    """Firing alerts are re-sent with a future endsAt; the resolve carries endsAt = its end."""

    async def scenario(am: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [config(NotifierKind.ALERTMANAGER, am.url("/prefix/"), resend_interval_seconds=0.2)],
            clock=clock,
        )
        async with notifications:
            drive = Driver(notifications, clock)
            drive.check(good(at(0), AT_HEAD, ROGUE))
            await until("three sends", lambda: len(am.accepted) >= 3)
            drive.check(good(at(600), AT_HEAD))
            await until(
                "resolved", lambda: am.accepted[-1].body[0]["endsAt"] == "2026-11-24T06:10:00.000Z"
            )
            count = len(am.accepted)
            await asyncio.sleep(0.6)  # three re-send intervals: nothing is firing any more
            assert len(am.accepted) == count
            assert notifications.stats()[0].sent == 2  # re-sends are protocol, not messages

        assert {r.path for r in am.requests} == {"/prefix/api/v2/alerts"}
        for request in am.accepted[:-1]:
            [alert] = request.body
            assert alert["labels"]["alertname"] == "DriftwatchSchemaDrift"
            assert alert["startsAt"] == "2026-11-24T06:00:00.000Z"
            # a few re-send intervals (4 x 0.2 s) ahead of the time it was sent
            assert datetime.fromisoformat(alert["endsAt"]) > request.wall

    with receiver() as am:
        asyncio.run(scenario(am))


def test_secrets_stay_out_of_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Neither the webhook URL's token nor a header value appears in any log line."""
    token = "T0SECRET/B0SECRET/xoxb0s3cr3t"  # a fake token to look for

    async def scenario(hook: Receiver, down: Receiver) -> None:
        clock = Clock()
        notifications = Notifications(
            [
                config(
                    NotifierKind.SLACK,
                    hook.url(f"/services/{token}"),
                    headers={"Authorization": "Bearer hdr-s3cr3t"},
                ),
                config(NotifierKind.WEBHOOK, down.url(f"/in?key={token}")),
            ],
            clock=clock,
            flush_seconds=0.5,
        )
        async with notifications:
            Driver(notifications, clock).flap(0, 2)
            await until("attempts", lambda: all(s.errors >= 2 for s in notifications.stats()))
            hook.status = 200
            await until("delivered", lambda: notifications.stats()[0].sent == 2)
        assert repr(notifications.notifiers[0].config).count("s3cr3t") == 0

    with receiver() as hook, receiver(started=False) as down:
        hook.status = 500
        hook.answer = f"invalid_token /services/{token} Bearer hdr-s3cr3t"
        with caplog.at_level(logging.DEBUG):
            asyncio.run(scenario(hook, down))
        assert hook.accepted[0].headers["Authorization"] == "Bearer hdr-s3cr3t"
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    assert "HTTP 500" in logged
    assert "connection refused" in logged
    assert "s3cr3t" not in logged
    assert "SECRET" not in logged


def test_targets_filter_and_condition_filter() -> None:
    """A notifier hears only its targets and its conditions."""

    async def scenario(hook: Receiver) -> None:
        clock = Clock()
        policy = Policy(targets=frozenset({"cp"}), conditions=frozenset({Condition.CHECK_FAILING}))
        notifications = Notifications(
            [config(NotifierKind.WEBHOOK, hook.url(), policy=policy)], clock=clock
        )
        async with notifications:
            Driver(notifications, clock, name="other").check(failed(at(0)))
            cp = Driver(notifications, clock)
            cp.flap(0, 3)
            cp.check(failed(at(600)))
            await until("delivered", lambda: len(hook.accepted) == 1)
        assert said(hook.accepted) == [("check_failing", "firing")]
        assert hook.accepted[0].body["target"] == "cp"

    with receiver() as hook:
        asyncio.run(scenario(hook))
