"""The notifications' memory across restarts: JSON round trip, pruning, and a restarted sink.

The sink is driven with hand-built target states and a fake clock and never entered, so no
worker runs: what a receiver would be sent is read from the queues.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import pytest

from driftwatch.findings import Finding, FindingKind
from driftwatch.notify.conditions import Condition, present_conditions, track_since
from driftwatch.notify.memory import (
    STATE_VERSION,
    NotifierMemory,
    NotifyState,
    Policy,
    StateError,
    firing_now,
    prune,
    state_from_json,
    state_json,
)
from driftwatch.notify.messages import Message
from driftwatch.notify.notifications import Notifications, NotifierConfig, NotifierKind
from driftwatch.notify.queue import Notifier
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from tests.unit.test_notify_conditions import AT_HEAD, BEHIND, ROGUE, at, failed, good

SECRET_URL = "https://hooks.example/services/T0/B0/s3cr3t"
ROGUE_TOO = Finding(
    kind=FindingKind.EXTRA_INDEX, schema="public", table="agents", name="ix_rogue",
    expected=None, actual="INDEX (rogue)", message="extra index",
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = at(0)

    def __call__(self) -> datetime:
        return self.now


def notifier(
    name: str, kind: NotifierKind = NotifierKind.WEBHOOK, policy: Policy | None = None
) -> NotifierConfig:
    return NotifierConfig(
        name=name,
        kind=kind,
        url=SECRET_URL,
        headers={"Authorization": "Bearer hdr-s3cr3t"},
        policy=policy or Policy(),
    )


class Process:
    """One daemon process's notification sink, fed check results for target `cp`."""

    def __init__(self, *configs: NotifierConfig, saved: NotifyState | None = None) -> None:
        self.clock = Clock()
        self.sink = Notifications(list(configs), clock=self.clock)
        if saved is not None:
            self.sink.restore(saved, targets=["cp"])
        self.state = TargetState(name="cp", dialect="postgresql", labels={"team": "db"})

    def check(self, report: TargetReport) -> None:
        self.state = self.state.after(report)
        self.clock.now = report.started_at
        self.sink(self.state)

    def queued(self, name: str | None = None) -> list[tuple[str, str]]:
        return [
            (m.condition.value, "firing" if m.firing else "resolved")
            for n in self.sink.notifiers
            if name is None or n.config.name == name
            for m in n.memory().queue
        ]

    def stop(self) -> NotifyState:
        """What the state file would hold, read back as the next process reads it."""
        text = json.dumps(state_json(self.sink.memory()))
        return state_from_json(json.loads(text))


def test_state_survives_its_json_unchanged_and_holds_no_secret() -> None:
    """Saved and read back, the state is equal; the URL and headers are nowhere in it."""
    first = Process(notifier("hook"), notifier("am", NotifierKind.ALERTMANAGER))
    first.check(good(at(0), BEHIND))
    first.check(good(at(3600), AT_HEAD, ROGUE))
    memory = first.sink.memory()
    text = json.dumps(state_json(memory))
    assert state_from_json(json.loads(text)) == memory
    assert json.loads(text)["version"] == STATE_VERSION == 1
    assert "s3cr3t" not in text
    assert "hooks.example" not in text
    assert memory.since == {"cp": {Condition.DRIFT: at(3600)}}
    assert memory.notifiers["am"].announced == {"cp": {Condition.DRIFT: at(3600)}}
    [alert] = memory.notifiers["am"].alerts
    assert (alert.key, alert.firing) == (("cp", Condition.DRIFT), True)
    assert [m.body["id"] for m in memory.notifiers["hook"].queue] == [
        m.body["id"] for m in state_from_json(json.loads(text)).notifiers["hook"].queue
    ]


def test_a_standing_condition_is_not_announced_again_after_a_restart() -> None:
    """Drift announced before the restart and still there after it: no new message."""
    first = Process(notifier("hook"))
    first.check(good(at(0), AT_HEAD, ROGUE))
    assert first.queued() == [("drift", "firing")]
    second = Process(notifier("hook"), saved=first.stop())
    second.check(good(at(600), AT_HEAD, ROGUE))
    second.check(good(at(660), AT_HEAD, ROGUE))
    assert second.queued() == [("drift", "firing")]  # the undelivered one, carried over


def test_a_condition_gone_while_stopped_is_resolved_once() -> None:
    """Drift announced, then fixed while no daemon ran: the first check resolves it, once."""
    first = Process(notifier("hook"))
    first.check(good(at(0), AT_HEAD, ROGUE))
    saved = first.stop()
    delivered = NotifyState(
        since=saved.since,
        notifiers={n: NotifierMemory(kind=m.kind, announced=m.announced)
                   for n, m in saved.notifiers.items()},
    )  # fmt: skip
    second = Process(notifier("hook"), saved=delivered)
    second.check(good(at(600)))
    second.check(good(at(660)))
    assert second.queued() == [("drift", "resolved")]
    [message] = second.sink.notifiers[0].memory().queue
    assert message.body["started_at"] == "2026-11-24T06:00:00Z"
    assert message.body["ended_at"] == "2026-11-24T06:10:00Z"


def test_pending_counts_from_its_first_sight_before_the_restart() -> None:
    """A threshold half waited before the restart fires at the original time, not later."""
    policy = Policy(thresholds={Condition.PENDING: 600})
    first = Process(notifier("hook", policy=policy))
    first.check(good(at(0), BEHIND))
    first.check(good(at(300), BEHIND))
    second = Process(notifier("hook", policy=policy), saved=first.stop())
    second.check(good(at(420), BEHIND))
    assert second.queued() == []
    second.check(good(at(600), BEHIND))
    assert second.queued() == [("pending", "firing")]
    [message] = second.sink.notifiers[0].memory().queue
    assert message.body["started_at"] == "2026-11-24T06:00:00Z"


def test_a_failing_first_check_after_the_restart_neither_raises_nor_clears() -> None:
    """With the database down at start, the saved drift stays announced and is not resolved."""
    first = Process(notifier("hook"))
    first.check(good(at(0), AT_HEAD, ROGUE))
    saved = first.stop()
    second = Process(notifier("hook", policy=Policy(thresholds={})), saved=saved)
    second.check(failed(at(600)))
    second.check(failed(at(660)))
    assert second.queued() == [("drift", "firing"), ("check_failing", "firing")]
    second.check(good(at(720), AT_HEAD, ROGUE))
    assert second.queued()[2:] == [("check_failing", "resolved")]


def test_a_raised_threshold_does_not_resolve_what_is_still_true() -> None:
    """Announced pending under a 60 s threshold stays firing when the restart makes it 1 h."""
    first = Process(notifier("hook", policy=Policy(thresholds={Condition.PENDING: 60})))
    first.check(good(at(0), BEHIND))
    first.check(good(at(60), BEHIND))
    assert first.queued() == [("pending", "firing")]
    later = Policy(thresholds={Condition.PENDING: 3600})
    second = Process(notifier("hook", policy=later), saved=first.stop())
    second.check(good(at(120), BEHIND))
    assert second.queued() == [("pending", "firing")]
    second.check(good(at(180)))
    assert second.queued() == [("pending", "firing"), ("pending", "resolved")]


def test_alertmanager_keeps_re_sending_what_it_announced() -> None:
    """Restored, Alertmanager's firing alert is in its re-send set with no new message."""
    am = notifier("am", NotifierKind.ALERTMANAGER)
    first = Process(am)
    first.check(good(at(0), AT_HEAD, ROGUE))
    saved = first.stop()
    second = Process(am, saved=saved)
    [restored] = second.sink.notifiers[0].memory().alerts
    assert restored == saved.notifiers["am"].alerts[0]
    second.check(good(at(60), AT_HEAD, ROGUE))
    assert second.queued() == [("drift", "firing")]  # only the one carried over
    second.check(good(at(120)))
    assert second.sink.notifiers[0].memory().alerts == ()
    assert second.queued()[-1] == ("drift", "resolved")


def test_unchanged_ticks_change_nothing_to_save() -> None:
    """Only a change of what a receiver was told or has queued asks for a write."""
    changes: list[int] = []
    am = Notifier(
        notifier("am", NotifierKind.ALERTMANAGER),
        rng=random.Random(0),
        on_change=lambda: changes.append(1),
    )
    state = TargetState(name="cp", dialect="postgresql")
    for tick in range(10):
        state = state.after(good(at(60 * tick), AT_HEAD, ROGUE))
        am.evaluate(state, {Condition.DRIFT: at(0)}, at(60 * tick))
    assert am.memory().alerts[0].body == am.memory().queue[0].body
    assert "endsAt" not in am.memory().alerts[0].body
    assert len(changes) == 2  # at the first tick: the message queued, the condition announced
    state = state.after(good(at(600), AT_HEAD, ROGUE, ROGUE_TOO))
    am.evaluate(state, {Condition.DRIFT: at(0)}, at(600))
    assert len(changes) == 3  # the re-sent alert describes the new drift


def test_removed_notifiers_targets_and_conditions_are_dropped_with_one_note_each() -> None:
    """What no longer applies is forgotten, never resolved; each drop is one sentence."""
    first = Process(
        notifier("gone"),
        notifier("narrowed"),
        notifier("retyped"),
        notifier("kept"),
    )
    first.check(good(at(0), BEHIND))
    first.check(good(at(1800), AT_HEAD, ROGUE))
    saved = first.stop()
    other = saved.since["cp"]
    saved = NotifyState(
        since={**saved.since, "old-db": other},
        notifiers={**saved.notifiers,
                   "kept": NotifierMemory(kind=NotifierKind.WEBHOOK,
                                          announced={**saved.notifiers["kept"].announced,
                                                     "old-db": other})},
    )  # fmt: skip
    configured = {
        "narrowed": (NotifierKind.WEBHOOK, Policy(conditions=frozenset({Condition.PENDING}))),
        "retyped": (NotifierKind.SLACK, Policy()),
        "kept": (NotifierKind.WEBHOOK, Policy()),
    }
    kept, notes = prune(saved, targets=["cp"], notifiers=configured)
    assert notes == [
        "target 'old-db' is no longer watched: its saved state is dropped",
        "notifier 'gone' is no longer configured: what it was told is forgotten "
        "(3 undelivered messages dropped)",
        "notifier 'narrowed' no longer covers cp/drift: what it was told of it is forgotten "
        "(1 undelivered message dropped)",
        "notifier 'retyped' is of another type now: what it was told is forgotten "
        "(3 undelivered messages dropped)",
    ]
    assert set(kept.since) == {"cp"}
    assert set(kept.notifiers) == {"narrowed", "kept"}
    assert kept.notifiers["narrowed"].announced == {}
    assert [m.condition for m in kept.notifiers["narrowed"].queue] == [
        Condition.PENDING,
        Condition.PENDING,
    ]
    assert kept.notifiers["kept"].announced == {"cp": {Condition.DRIFT: at(1800)}}

    restarted = Process(notifier("kept"), saved=saved)
    restarted.check(good(at(1860)))
    assert restarted.queued() == [("drift", "resolved")]  # nothing for old-db, nothing invented


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "the document: expected an object"),
        ({"version": 2, "targets": {}, "notifiers": {}}, "version 2, this driftwatch reads 1"),
        ({"version": 1, "targets": {"cp": {"drift": "2026-11-24T06:00:00"}}, "notifiers": {}},
         "targets.cp.drift: expected a time with its UTC offset"),
        ({"version": 1, "targets": {"cp": {"flood": "2026-11-24T06:00:00Z"}}, "notifiers": {}},
         "targets.cp: unknown condition 'flood'"),
        ({"version": 1, "targets": {}, "notifiers": {"x": {"type": "pager", "announced": {},
          "alerts": [], "queue": []}}}, "notifiers.x.type: unknown notifier type 'pager'"),
        ({"version": 1, "targets": {}, "notifiers": {"x": {"type": "slack", "announced": {},
          "alerts": [], "queue": [{"target": "cp", "condition": "drift", "body": {}}]}}},
         "notifiers.x.queue[0]: expected a target and whether it is firing"),
    ],
)  # fmt: skip
def test_documents_that_are_not_a_state_are_refused_saying_where(document: Any, says: str) -> None:
    with pytest.raises(StateError) as refused:
        state_from_json(document)
    assert str(refused.value) == says


def test_tracking_keeps_restored_conditions_until_a_check_succeeds() -> None:
    """Restored drift stays through failing checks; the first good check decides."""
    restored = {Condition.DRIFT: at(0), Condition.CHECK_FAILING: at(0)}
    down = TargetState(name="cp", dialect="postgresql").after(failed(at(600)))
    assert track_since(restored, present_conditions(down), known=False) == {
        Condition.DRIFT: at(0),
        Condition.CHECK_FAILING: at(0),
    }
    up = down.after(good(at(660)))
    assert track_since(restored, present_conditions(up), known=True) == {}


def test_firing_now_holds_what_was_announced_while_it_is_present() -> None:
    policy = Policy(thresholds={Condition.PENDING: 3600})
    since = {Condition.PENDING: at(0)}
    assert firing_now(since, {}, policy, at(60)) == {}
    assert firing_now(since, {Condition.PENDING: at(0)}, policy, at(60)) == since
    assert firing_now({}, {Condition.PENDING: at(0)}, policy, at(60)) == {}
    narrowed = Policy(conditions=frozenset({Condition.DRIFT}))
    assert firing_now(since, {Condition.PENDING: at(0)}, narrowed, at(60)) == {}


def test_messages_are_plain_data() -> None:
    """A queued message compares by value, so a re-rendered unchanged alert is no change."""
    body = {"labels": {"alertname": "DriftwatchSchemaDrift"}}
    one = Message(target="cp", condition=Condition.DRIFT, firing=True, body=body)
    assert one == Message(target="cp", condition=Condition.DRIFT, firing=True, body=dict(body))
