"""What each receiver was told and is to be told next, and what a restart needs. Pure.

A notifier is told about a condition once it has been present for its confirmation window
(*firing*; a condition that ends sooner is never told), and once more when it is gone
(*resolved*): one message per transition, never one per check (`Policy`, `firing_now`,
`transitions`).

What the notifications remember across a restart, as plain values and as JSON:

Per target, the conditions present and since when (what `track_since` tracks), so that
thresholds count from the first check that saw a condition, not from the restart. Per
notifier, by name: the conditions its receiver was told are firing, with their start
(Alertmanager: with the alert its re-sends repeat), and the messages not delivered yet.
Receiver URLs and headers are secrets and never part of it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from driftwatch.notify.conditions import Condition, Move, Transition, changes, transition
from driftwatch.notify.messages import Message, NotifierKind
from driftwatch.notify.target import TargetState

STATE_VERSION = 1


# --- what a receiver is to be told -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What one notifier wants to hear about."""

    conditions: frozenset[Condition] = frozenset(Condition)
    targets: frozenset[str] = frozenset()  # empty: every target
    # each condition's confirmation window in seconds (`conditions.windows`; missing: none),
    # the same for every notifier and the Prometheus rules
    thresholds: Mapping[Condition, float] = field(default_factory=dict)

    def wants(self, target: str) -> bool:
        return not self.targets or target in self.targets

    def covers(self, target: str, condition: Condition) -> bool:
        return self.wants(target) and condition in self.conditions


def due(
    since: Mapping[Condition, datetime], policy: Policy, now: datetime
) -> dict[Condition, datetime]:
    """The conditions that should be firing for a notifier at `now`, with their start."""
    return {
        condition: started
        for condition, started in since.items()
        if condition in policy.conditions
        and (now - started).total_seconds() >= policy.thresholds.get(condition, 0)
    }


def firing_now(
    since: Mapping[Condition, datetime],
    announced: Mapping[Condition, datetime],
    policy: Policy,
    now: datetime,
) -> dict[Condition, datetime]:
    """`due`, and what the receiver was already told and is still present: a threshold
    raised across a restart does not resolve a condition that has not ended."""
    firing = due(since, policy, now)
    held = {c: s for c, s in since.items() if c in announced and c in policy.conditions}
    return {**held, **firing}


def transitions(
    state: TargetState,
    announced: Mapping[Condition, datetime],
    firing: Mapping[Condition, datetime],
    now: datetime,
) -> list[Transition]:
    """What to tell a notifier that has `announced` these conditions, now that `firing` hold.

    Resolved messages come first, then firing ones, each in the order of `Condition`; a
    condition still firing is told nothing more, whatever its evidence.
    """
    moved = changes(announced, firing)
    gone = [
        transition(state, c, firing=False, since=announced[c], now=now)
        for c in Condition
        if moved.get(c) is Move.ENDED
    ]
    new = [
        transition(state, c, firing=True, since=firing[c], now=now)
        for c in Condition
        if moved.get(c) is Move.STARTED
    ]
    return gone + new


# --- what a restart needs ------------------------------------------------------------------


Since = Mapping[str, Mapping[Condition, datetime]]  # target -> condition -> first seen


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierMemory:
    """What one receiver was told, and what it has still to be told."""

    kind: NotifierKind
    announced: Since = field(default_factory=dict)  # firing, as far as the receiver knows
    alerts: tuple[Message, ...] = ()  # Alertmanager: the firing alerts it keeps re-sending
    queue: tuple[Message, ...] = ()  # not delivered yet, oldest first

    def covers(self, wanted: Callable[[str, Condition], bool]) -> NotifierMemory:
        """Only what concerns the (target, condition) pairs `wanted` says yes to."""
        return NotifierMemory(
            kind=self.kind,
            announced=_only(self.announced, wanted),
            alerts=tuple(m for m in self.alerts if wanted(*m.key)),
            queue=tuple(m for m in self.queue if wanted(*m.key)),
        )

    @property
    def empty(self) -> bool:
        return not (any(self.announced.values()) or self.alerts or self.queue)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyState:
    since: Since = field(default_factory=dict)
    notifiers: Mapping[str, NotifierMemory] = field(default_factory=dict)


class StateError(ValueError):
    """The document is not a state file this version of driftwatch can read."""


def _only(since: Since, wanted: Callable[[str, Condition], bool]) -> Since:
    kept = {t: {c: s for c, s in conds.items() if wanted(t, c)} for t, conds in since.items()}
    return {t: conds for t, conds in kept.items() if conds}


# --- what to keep of a saved state under the configuration of this start --------------------


def prune(
    state: NotifyState,
    *,
    targets: Collection[str],
    notifiers: Mapping[str, tuple[NotifierKind, Policy]],
) -> tuple[NotifyState, list[str]]:
    """`state` less what no longer applies, and one sentence for each thing dropped.

    A target no longer watched and a notifier no longer configured (or now of another type)
    are forgotten whole; of a notifier whose `events` or `targets` no longer cover a
    condition, what concerns that condition. Nothing is resolved for what is dropped: the
    receiver simply hears no more of it.
    """
    notes: list[str] = []
    watched = set(targets)
    mentioned = set(state.since).union(*(_pairs(m).keys() for m in state.notifiers.values()))
    for target in sorted(mentioned - watched):
        notes.append(f"target {target!r} is no longer watched: its saved state is dropped")
    since = _only(state.since, lambda t, _c: t in watched)
    kept: dict[str, NotifierMemory] = {}
    for name, memory in sorted(state.notifiers.items()):
        here = memory.covers(lambda t, _c: t in watched)
        configured = notifiers.get(name)
        if configured is None or configured[0] is not memory.kind:
            if not here.empty:
                why = "no longer configured" if configured is None else "of another type now"
                notes.append(f"notifier {name!r} is {why}: what it was told is forgotten"
                             f"{_dropped(len(here.queue))}")  # fmt: skip
            continue
        covered = here.covers(configured[1].covers)
        lost = sorted(
            f"{t}/{c.value}"
            for t, conditions in _pairs(here).items()
            for c in conditions - _pairs(covered).get(t, set())
        )
        if lost:
            notes.append(
                f"notifier {name!r} no longer covers {', '.join(lost)}: what it was told of "
                f"it is forgotten{_dropped(len(here.queue) - len(covered.queue))}"
            )
        kept[name] = covered
    return NotifyState(since=since, notifiers=kept), notes


def _pairs(memory: NotifierMemory) -> dict[str, set[Condition]]:
    """target -> the conditions `memory` says anything about."""
    found: dict[str, set[Condition]] = {t: set(c) for t, c in memory.announced.items()}
    for message in (*memory.alerts, *memory.queue):
        found.setdefault(message.target, set()).add(message.condition)
    return found


def _dropped(count: int) -> str:
    return f" ({count} undelivered message{'' if count == 1 else 's'} dropped)" if count else ""


# --- JSON -----------------------------------------------------------------------------------


def _times(since: Since) -> dict[str, dict[str, str]]:
    return {t: {c.value: s.isoformat() for c, s in conds.items()} for t, conds in since.items()}


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "target": message.target,
        "condition": message.condition.value,
        "firing": message.firing,
        "body": message.body,
    }


def state_json(state: NotifyState) -> dict[str, Any]:
    """The state file's document (its body references the messages' bodies, not copies)."""
    return {
        "version": STATE_VERSION,
        "targets": _times(state.since),
        "notifiers": {
            name: {
                "type": memory.kind.value,
                "announced": _times(memory.announced),
                "alerts": [_message_json(m) for m in memory.alerts],
                "queue": [_message_json(m) for m in memory.queue],
            }
            for name, memory in state.notifiers.items()
        },
    }


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise StateError(f"{where}: expected an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise StateError(f"{where}: expected a list")
    return value


def _condition(value: object, where: str) -> Condition:
    try:
        return Condition(str(value))
    except ValueError:
        raise StateError(f"{where}: unknown condition {value!r}") from None


def _time(value: object, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise StateError(f"{where}: expected a time with its UTC offset")
    return parsed


def _since(value: object, where: str) -> Since:
    return {
        target: {
            _condition(c, f"{where}.{target}"): _time(s, f"{where}.{target}.{c}")
            for c, s in _object(conds, f"{where}.{target}").items()
        }
        for target, conds in _object(value, where).items()
    }


def _message(value: object, where: str) -> Message:
    doc = _object(value, where)
    target, firing = doc.get("target"), doc.get("firing")
    if not isinstance(target, str) or not isinstance(firing, bool):
        raise StateError(f"{where}: expected a target and whether it is firing")
    return Message(
        target=target,
        condition=_condition(doc.get("condition"), f"{where}.condition"),
        firing=firing,
        body=_object(doc.get("body"), f"{where}.body"),
    )


def _messages(value: object, where: str) -> tuple[Message, ...]:
    return tuple(_message(m, f"{where}[{i}]") for i, m in enumerate(_list(value, where)))


def _memory(value: object, where: str) -> NotifierMemory:
    doc = _object(value, where)
    try:
        kind = NotifierKind(str(doc.get("type")))
    except ValueError:
        raise StateError(f"{where}.type: unknown notifier type {doc.get('type')!r}") from None
    return NotifierMemory(
        kind=kind,
        announced=_since(doc.get("announced"), f"{where}.announced"),
        alerts=_messages(doc.get("alerts"), f"{where}.alerts"),
        queue=_messages(doc.get("queue"), f"{where}.queue"),
    )


def state_from_json(document: object) -> NotifyState:
    """The state a document describes; StateError (naming where) when it is not one."""
    doc = _object(document, "the document")
    if doc.get("version") != STATE_VERSION:
        raise StateError(f"version {doc.get('version')!r}, this driftwatch reads {STATE_VERSION}")
    notifiers = _object(doc.get("notifiers"), "notifiers")
    return NotifyState(
        since=_since(doc.get("targets"), "targets"),
        notifiers={name: _memory(m, f"notifiers.{name}") for name, m in notifiers.items()},
    )
