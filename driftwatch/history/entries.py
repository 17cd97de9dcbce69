"""Schema history: what changed between consecutive observations of a target, and when. Pure.

An `Observation` is what the daemon knows of a target after a check: whether the check
failed, the revision state and the findings of the last successful check (a failing check
neither clears nor raises them, and a check that did not compare the schema leaves the last
comparison's findings standing). `changes` turns two consecutive observations into log
entries: a finding that appeared, changed or went away, the revision moving, the check
starting or stopping to fail. A target's history keeps the last observation (to compare the
next with, across restarts) and a bounded log of entries, newest last.

Nothing here reads a clock or a file: `history_file` persists, `serve.history` keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from driftwatch.bounds import ITEM_CHARS, LISTED, clip, clip_optional, listing
from driftwatch.findings import Finding
from driftwatch.notify.target import TargetState
from driftwatch.render.document import timestamp
from driftwatch.render.text import FINDING_SIDES
from driftwatch.revisions import RevisionState

MAX_ENTRIES = 500  # per target, newest kept
MAX_AGE = timedelta(days=90)  # entries older than this are dropped
LISTED_PER_CHECK = 20  # findings entered one by one per observation; the rest as a count

FORMAT = "driftwatch-history"
FORMAT_VERSION = 1


class HistoryError(ValueError):
    """A history document this driftwatch does not read."""


class Event(StrEnum):
    """A public vocabulary: `driftwatch history --format json` and /report carry it."""

    FIRST_SEEN = "first_seen"  # present when the daemon first knew the target
    APPEARED = "appeared"
    CHANGED = "changed"  # the same object, other expected or actual values
    GONE = "gone"
    REVISION = "revision"  # the database's revision or its state moved
    CHECK_FAILING = "check_failing"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingFact:
    """A finding as history remembers it."""

    kind: str
    attribution: str
    schema: str | None
    table: str
    name: str | None
    expected: str | None
    actual: str | None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.attribution, self.schema or "", self.table, self.kind, self.name or "")

    @property
    def where(self) -> str:
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return table if self.name is None else f"{self.name} on {table}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionFact:
    state: str
    database_heads: tuple[str, ...] | None  # None: no version table
    script_heads: tuple[str, ...]
    pending: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    failing: bool
    error: str | None = None
    revision: RevisionFact | None = None
    findings: tuple[FindingFact, ...] | None = None  # None: the schema was never compared


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One line of history. A finding event names `finding` (and for `changed` what it
    `was`), or, for findings beyond what one check lists, only their `count`."""

    at: datetime
    event: Event
    finding: FindingFact | None = None
    was: FindingFact | None = None
    count: int | None = None
    revision: RevisionFact | None = None
    was_revision: RevisionFact | None = None
    error: str | None = None

    @property
    def text(self) -> str:
        return entry_text(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetHistory:
    observed: Observation | None = None  # the last observation, what the next is compared with
    entries: tuple[Entry, ...] = ()  # oldest first


# --- observing --------------------------------------------------------------------------


def finding_fact(finding: Finding) -> FindingFact:
    return FindingFact(
        kind=finding.kind.value,
        attribution=finding.attribution.value,
        schema=finding.schema,
        table=finding.table,
        name=finding.name,
        # clipped here, once: what is compared is what is saved
        expected=clip_optional(finding.expected),
        actual=clip_optional(finding.actual),
    )


def revision_fact(state: RevisionState) -> RevisionFact:
    return RevisionFact(
        state=state.kind.value,
        database_heads=None if state.database_heads is None else _few(state.database_heads),
        script_heads=_few(state.script_heads),
        pending=len(state.pending),
    )


def _few(heads: tuple[str, ...]) -> tuple[str, ...]:
    """A version table may hold anything: what history keeps of it is bounded."""
    return tuple(clip(h, ITEM_CHARS) for h in heads[:LISTED])


def observe(state: TargetState, previous: Observation | None) -> Observation:
    """What is known of `state`'s target now; what this check did not establish is taken
    from `previous`."""
    latest, good = state.latest, state.last_good
    failing = latest is not None and not latest.succeeded
    revision = previous.revision if previous else None
    findings = previous.findings if previous else None
    if good is not None and good.revision is not None:
        revision = revision_fact(good.revision)
    if good is not None and good.schema is not None and good.schema.compared:
        facts = (finding_fact(f) for f in good.schema.findings)
        findings = tuple(sorted(facts, key=lambda f: f.key))
    error = latest.error if failing and latest is not None else None
    if failing and previous is not None and previous.failing:
        error = previous.error  # why it started failing; a new wording is no change
    return Observation(
        failing=failing,
        error=error,
        revision=revision,
        findings=findings,
    )


def changes(before: Observation | None, now: Observation, at: datetime) -> list[Entry]:
    """The entries that say how `now` differs from `before` (None: the first observation)."""
    entries: list[Entry] = []
    if (before.failing if before else False) != now.failing:
        event = Event.CHECK_FAILING if now.failing else Event.RECOVERED
        entries.append(Entry(at=at, event=event, error=now.error))
    was_revision = before.revision if before else None
    if now.revision is not None and now.revision != was_revision:
        first = was_revision is None
        entries.append(
            Entry(
                at=at,
                event=Event.FIRST_SEEN if first else Event.REVISION,
                revision=now.revision,
                was_revision=was_revision,
            )
        )
    was_findings = before.findings if before else None
    if now.findings is not None:
        entries.extend(_finding_changes(was_findings, now.findings, at))
    return entries


def _finding_changes(
    before: Sequence[FindingFact] | None, now: Sequence[FindingFact], at: datetime
) -> Iterable[Entry]:
    if before is None:
        yield from _listed(Event.FIRST_SEEN, [(f, None) for f in now], at)
        return
    old = {f.key: f for f in before}
    new = {f.key: f for f in now}
    appeared = [(f, None) for key, f in new.items() if key not in old]
    changed = [(f, old[key]) for key, f in new.items() if key in old and old[key] != f]
    gone = [(f, None) for key, f in old.items() if key not in new]
    yield from _listed(Event.APPEARED, appeared, at)
    yield from _listed(Event.CHANGED, changed, at)
    yield from _listed(Event.GONE, gone, at)


def _listed(
    event: Event, pairs: Sequence[tuple[FindingFact, FindingFact | None]], at: datetime
) -> Iterable[Entry]:
    """One entry per finding up to LISTED_PER_CHECK, then one counting the rest: a whole
    schema appearing at once must not push every other entry out of the log."""
    for finding, was in pairs[:LISTED_PER_CHECK]:
        yield Entry(at=at, event=event, finding=finding, was=was)
    if len(pairs) > LISTED_PER_CHECK:
        yield Entry(at=at, event=event, count=len(pairs) - LISTED_PER_CHECK)


def bounded(entries: Sequence[Entry], now: datetime) -> tuple[Entry, ...]:
    """The newest MAX_ENTRIES of `entries` no older than MAX_AGE."""
    recent = [e for e in entries if now - e.at <= MAX_AGE]
    return tuple(recent[-MAX_ENTRIES:])


def record(history: TargetHistory, state: TargetState, at: datetime) -> TargetHistory:
    """`history` after the check that produced `state` (at `at`); the same object when
    nothing changed, so a caller can tell whether to save."""
    now = observe(state, history.observed)
    if now == history.observed:
        return history
    entries = bounded([*history.entries, *changes(history.observed, now, at)], at)
    return TargetHistory(observed=now, entries=entries)


def since(entries: Iterable[Entry], start: datetime | None) -> list[Entry]:
    return [e for e in entries if start is None or e.at >= start]


# --- words ------------------------------------------------------------------------------

# what a finding is called in a line, by attribution (render's words for the groups)
_NOUNS = {"unattributed": "difference"}
# the sides of a finding by attribution: (expected, actual), as the text report says them
_SIDES = {a.value: sides for a, sides in FINDING_SIDES.items()}
_VERBS = {
    Event.FIRST_SEEN: "present at first check",
    Event.APPEARED: "appeared",
    Event.CHANGED: "changed",
    Event.GONE: "gone",
}


def time_text(at: datetime) -> str:
    """`2026-12-03 14:03:07Z`: UTC, to the second."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def heads_text(heads: tuple[str, ...] | None) -> str:
    if heads is None:
        return "(no version table)"
    return listing(heads) if heads else "(base)"


def revision_state_text(revision: RevisionFact) -> str:
    if revision.state == "at_head":
        return "at head"
    words = revision.state.replace("_", " ")
    return f"{words}, {revision.pending} pending" if revision.pending else words


def entry_text(entry: Entry) -> str:
    """The entry as one line, without its time."""
    if entry.event is Event.CHECK_FAILING:
        return f"check failing: {clip(entry.error or 'unknown error', 200)}"
    if entry.event is Event.RECOVERED:
        return "check recovered"
    if entry.revision is not None:
        return _revision_text(entry.revision, entry.was_revision)
    verb = _VERBS[entry.event]
    finding = entry.finding
    if finding is None:
        return f"{entry.count} more differences {verb}"
    noun = _NOUNS.get(finding.attribution, finding.attribution)
    line = f"{noun} {verb}: {finding.kind} {finding.where}"
    if entry.was is not None:
        line += _changed_sides(entry.was, finding)
    return line


def _revision_text(now: RevisionFact, was: RevisionFact | None) -> str:
    state = revision_state_text(now)
    if was is None:
        return f"revision {heads_text(now.database_heads)} at first check ({state})"
    if was.database_heads != now.database_heads:
        moved = f"{heads_text(was.database_heads)} -> {heads_text(now.database_heads)}"
        return f"revision {moved} ({state})"
    return (
        f"revision {heads_text(now.database_heads)}: {revision_state_text(was)} -> {state}"
        f" (script head {heads_text(now.script_heads)})"
    )


def _changed_sides(was: FindingFact, now: FindingFact) -> str:
    expected_side, actual_side = _SIDES.get(now.attribution, ("expected", "actual"))
    moved = [
        f"{side} {clip(str(old), 100)} -> {clip(str(new), 100)}"
        for side, old, new in (
            (expected_side, was.expected, now.expected),
            (actual_side, was.actual, now.actual),
        )
        if old != new
    ]
    return f" ({'; '.join(moved)})" if moved else ""


def entry_line(entry: Entry) -> str:
    return f"{time_text(entry.at)}  {entry.text}"


def history_lines(entries: Iterable[Entry]) -> list[str]:
    """`driftwatch history`'s text: one line per entry, oldest first."""
    return [entry_line(e) for e in entries]


# --- JSON -------------------------------------------------------------------------------


def _fact_json(fact: FindingFact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {
        "kind": fact.kind,
        "attribution": fact.attribution,
        "schema": fact.schema,
        "table": fact.table,
        "name": fact.name,
        "expected": fact.expected,
        "actual": fact.actual,
    }


def _revision_json(fact: RevisionFact | None) -> dict[str, Any] | None:
    if fact is None:
        return None
    return {
        "state": fact.state,
        "database_heads": None if fact.database_heads is None else list(fact.database_heads),
        "script_heads": list(fact.script_heads),
        "pending": fact.pending,
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "at": timestamp(entry.at),
        "event": entry.event.value,
        "text": entry.text,
        "finding": _fact_json(entry.finding),
        "was": _fact_json(entry.was),
        "count": entry.count,
        "revision": _revision_json(entry.revision),
        "was_revision": _revision_json(entry.was_revision),
        "error": entry.error,
    }


HISTORY_SCHEMA_VERSION = 1  # `driftwatch history --format json`; a change of meaning bumps it


def history_document(name: str, entries: Iterable[Entry]) -> dict[str, Any]:
    """`driftwatch history --format json`."""
    return {
        "schema_version": HISTORY_SCHEMA_VERSION,
        "target": name,
        "entries": [entry_json(e) for e in entries],
    }


def _observation_json(observed: Observation | None) -> dict[str, Any] | None:
    if observed is None:
        return None
    return {
        "failing": observed.failing,
        "error": observed.error,
        "revision": _revision_json(observed.revision),
        "findings": None
        if observed.findings is None
        else [_fact_json(f) for f in observed.findings],
    }


def history_json(histories: Mapping[str, TargetHistory]) -> dict[str, Any]:
    """The history file's document."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "targets": {
            name: {
                "observed": _observation_json(h.observed),
                "entries": [entry_json(e) for e in h.entries],
            }
            for name, h in sorted(histories.items())
        },
    }


def _fact(raw: Any) -> FindingFact | None:
    if raw is None:
        return None
    return FindingFact(
        kind=str(raw["kind"]),
        attribution=str(raw["attribution"]),
        schema=_optional(raw["schema"]),
        table=str(raw["table"]),
        name=_optional(raw["name"]),
        expected=_optional(raw["expected"]),
        actual=_optional(raw["actual"]),
    )


def _present(fact: FindingFact | None) -> FindingFact:
    if fact is None:
        raise HistoryError("an observed finding is null")
    return fact


def _optional(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _heads(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise HistoryError(f"revision heads are not a list: {raw!r:.60}")
    return tuple(str(h) for h in raw)


def _revision(raw: Any) -> RevisionFact | None:
    if raw is None:
        return None
    heads = raw["database_heads"]
    return RevisionFact(
        state=str(raw["state"]),
        database_heads=None if heads is None else _heads(heads),
        script_heads=_heads(raw["script_heads"]),
        pending=int(raw["pending"]),
    )


def _entry(raw: Any) -> Entry:
    count = raw.get("count")
    return Entry(
        at=_parse_time(raw["at"]),
        event=Event(raw["event"]),
        finding=_fact(raw.get("finding")),
        was=_fact(raw.get("was")),
        count=None if count is None else int(count),
        revision=_revision(raw.get("revision")),
        was_revision=_revision(raw.get("was_revision")),
        error=_optional(raw.get("error")),
    )


def _parse_time(raw: Any) -> datetime:
    at = datetime.fromisoformat(str(raw))
    if at.tzinfo is None:
        raise HistoryError(f"a time without its zone: {raw!r:.40}")
    return at


def _observation(raw: Any) -> Observation | None:
    if raw is None:
        return None
    findings = raw["findings"]
    return Observation(
        failing=bool(raw["failing"]),
        error=_optional(raw["error"]),
        revision=_revision(raw["revision"]),
        findings=None if findings is None else tuple(_present(_fact(f)) for f in findings),
    )


def history_from_json(document: Any) -> dict[str, TargetHistory]:
    """The histories of a history file's document; HistoryError for anything else."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise HistoryError("not a driftwatch history document")
    if document.get("version") != FORMAT_VERSION:
        raise HistoryError(f"history format version {document.get('version')!r:.20} unknown")
    try:
        return {
            str(name): TargetHistory(
                observed=_observation(raw["observed"]),
                entries=tuple(_entry(e) for e in raw["entries"]),
            )
            for name, raw in document["targets"].items()
        }
    except HistoryError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HistoryError(f"malformed history: {type(exc).__name__}: {exc}") from None
