"""Notification bodies: Alertmanager v2 alerts, Slack-compatible text, a generic JSON webhook.

Pure: a `Transition` is rendered once, when it is queued, into a `Message` holding the JSON
its receiver gets; `encode` turns messages into a request body (for Alertmanager, stamping a
firing alert's `endsAt` at the send time). A queued message is thus plain data, which the
state file can keep across a restart. The generic webhook body is a public contract,
versioned by `WEBHOOK_SCHEMA_VERSION` and documented in docs/notifications.md; breaking it
needs a new version.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from driftwatch import __version__
from driftwatch.bounds import clip, first, listing
from driftwatch.findings import Attribution, Finding
from driftwatch.notify.conditions import Condition, Transition
from driftwatch.render.document import finding_json, target_json
from driftwatch.report import DEFAULT_FAIL_ON, TargetReport
from driftwatch.revisions import RevisionState

WEBHOOK_SCHEMA_VERSION = 1
SOURCE = "driftwatch"
MAX_DETAIL = 300  # characters of an error line or a migration message in a message
SHOWN_FINDINGS = 3  # findings named in the one-line description
LISTED_FINDINGS = 20  # findings listed in a message's details
FIX_CHARS = 4000  # characters of fix SQL in a message


class NotifierKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    SLACK = "slack"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One notification as its receiver gets it, fixed when it is queued.

    `body` is JSON-ready and never changed afterwards: a webhook object (with its `id`), a
    Slack object, or one Alertmanager alert (whose `endsAt`, while firing, is set per send).
    """

    target: str
    condition: Condition
    firing: bool
    body: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, Condition]:
        return (self.target, self.condition)


def iso(value: datetime, timespec: str = "seconds") -> str:
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _revisions(revisions: tuple[str, ...] | None) -> str:
    if revisions is None:
        return "none (no version table)"
    return listing(revisions) if revisions else "base"


def cause_findings(condition: Condition, report: TargetReport) -> tuple[Finding, ...]:
    """The findings that make `condition` (drift, unmigrated or pending ones), in report order."""
    schema = report.schema
    if schema is None:
        return ()
    if condition is Condition.DRIFT:
        return schema.drift
    wanted = _ATTRIBUTION_OF.get(condition)
    return tuple(f for f in schema.findings if wanted is not None and f.attribution is wanted)


_ATTRIBUTION_OF = {
    Condition.PENDING: Attribution.PENDING,
    Condition.UNMIGRATED: Attribution.UNMIGRATED,
}


def _cause(condition: Condition, report: TargetReport) -> str:
    """Why the findings exist, in words."""
    if condition is Condition.UNMIGRATED:
        return "the models hold what the head's migrations do not produce (no migration written)"
    if condition is Condition.PENDING:
        return "what the pending migrations will change"
    if report.schema is not None and report.schema.method == "replay":
        return "not what its revision's migrations produce (changed outside the migrations)"
    return "differs from the models"


def _findings(condition: Condition, report: TargetReport) -> str:
    """The findings in one line: how many of each kind, their cause and the first few."""
    found = cause_findings(condition, report)
    if not found:
        return condition.value.replace("_", " ")
    kinds = ", ".join(
        f"{kind} {n}" for kind, n in sorted(Counter(f.kind.value for f in found).items())
    )
    shown = [f"{f.kind.value} {f.path}" for f in found[:SHOWN_FINDINGS]]
    more = len(found) - len(shown)
    tail = f" and {more} more" if more > 0 else ""
    what = _plural(len(found), "schema difference")
    return f"{what} ({kinds}), {_cause(condition, report)}: {', '.join(shown)}{tail}"


def _pending(rev: RevisionState) -> str:
    oldest = rev.pending[0] if rev.pending else None
    nxt = f"; next {oldest.revision} {_clip(oldest.message, 80)!r}" if oldest else ""
    return (
        f"{_plural(len(rev.pending), 'migration')} pending (database "
        f"{_revisions(rev.database_heads)}, head {_revisions(rev.script_heads)}{nxt})"
    )


def _firing_detail(condition: Condition, report: TargetReport) -> str:
    rev = report.revision
    if condition is Condition.CHECK_FAILING:
        return _clip(report.error or "the check failed")
    if condition in (Condition.DRIFT, Condition.UNMIGRATED):
        return _findings(condition, report)
    if rev is None:
        return condition.value.replace("_", " ")
    if condition is Condition.PENDING:
        return _pending(rev)
    if condition is Condition.UNKNOWN_REVISION:
        return (
            f"the database is on {listing(rev.unknown)}, which the migration scripts do not "
            f"have (head {_revisions(rev.script_heads)})"
        )
    return (
        f"the migration scripts have {len(rev.script_heads)} heads: {', '.join(rev.script_heads)}"
    )


def _resolved_detail(condition: Condition, report: TargetReport) -> str:
    rev = report.revision
    if condition is Condition.CHECK_FAILING:
        return "the checks succeed again"
    if rev is None:
        return f"{condition.value.replace('_', ' ')} is over"
    state = f" (revision state {rev.kind.value})"
    database, heads = _revisions(rev.database_heads), _revisions(rev.script_heads)
    if (
        condition is Condition.DRIFT
        and not rev.in_sync
        and report.schema
        and report.schema.method != "replay"
    ):
        return f"no longer at the migration head{state}; drift is judged again at head"
    return {
        Condition.DRIFT: "the live schema matches the models again",
        Condition.UNMIGRATED: "the migrations produce the models again",
        Condition.PENDING: f"no migrations pending, database on {database}{state}",
        Condition.UNKNOWN_REVISION: f"the database is on a known revision again: {database}",
        Condition.MULTIPLE_SCRIPT_HEADS: f"the migration scripts have one head again: {heads}",
    }[condition]


def detail(t: Transition) -> str:
    """One line: what is wrong (firing) or how it ended (resolved)."""
    if t.report is None:
        return t.condition.value.replace("_", " ") + (" started" if t.firing else " is over")
    if t.firing:
        return _firing_detail(t.condition, t.report)
    return _resolved_detail(t.condition, t.report)


def description(t: Transition) -> str:
    when = f"since {iso(t.since)}" if t.firing else f"from {iso(t.since)} to {iso(t.at)}"
    return f"Database target {t.target}: {detail(t)} ({when})."


def status_url(public_url: str | None, target: str) -> str | None:
    """Where people see the target, under the daemon's `public_url`: its status page."""
    if public_url is None:
        return None
    return f"{public_url}/targets/{quote(target, safe='')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cause:
    """What a firing message says of its cause, bounded: the findings that make the condition
    (at most LISTED_FINDINGS, and how many more) and, for drift, the SQL that would undo it."""

    attribution: str | None  # the attribution the findings share, if the condition has one
    findings: tuple[Finding, ...]
    omitted: int
    fix_sql: str | None

    @property
    def lines(self) -> list[str]:
        """The findings as text lines, "- kind object: message", then "- and K more"."""
        listed = [f"- {f.kind.value} {f.path}: {_clip(f.message, 120)}" for f in self.findings]
        return listed + ([f"- and {self.omitted} more"] if self.omitted else [])


def cause(t: Transition) -> Cause:
    """The cause of `t` as far as its report shows it (nothing for a resolved message)."""
    found = cause_findings(t.condition, t.report) if t.firing and t.report is not None else ()
    shown, omitted = first(found, LISTED_FINDINGS)
    fixes = [f.fix for f in shown if f.fix] if t.condition is Condition.DRIFT else []
    attributions = {f.attribution.value for f in found}
    return Cause(
        attribution=attributions.pop() if len(attributions) == 1 else t.rule.attribution,
        findings=shown,
        omitted=omitted,
        fix_sql=clip("\n".join(fixes), FIX_CHARS) if fixes else None,
    )


# --- Alertmanager v2 -----------------------------------------------------------------------


def alert_labels(t: Transition) -> dict[str, str]:
    """The labels of the alert, exactly those the generated Prometheus rule gives it (with
    the targets' labels joined), so Alertmanager takes the two for one alert."""
    return {
        **t.labels,  # the target's own labels first: ours below win on a clash
        "alertname": t.rule.alertname,
        "target": t.target,
        **t.rule.labels,
    }


def alertmanager_alert(
    t: Transition, *, now: datetime, ttl_seconds: float, public_url: str | None = None
) -> dict[str, Any]:
    """One alert of `POST /api/v2/alerts`.

    A firing alert carries `endsAt` a few re-send intervals ahead, as Prometheus does, so
    Alertmanager keeps it while it is re-sent and lets it expire if driftwatch goes away;
    a resolved one carries the time it ended.
    """
    rule = t.rule
    labels = alert_labels(t)
    ends = t.at if not t.firing else now + timedelta(seconds=ttl_seconds)
    why, link = cause(t), status_url(public_url, t.target)
    extra = {
        "findings": "\n".join(why.lines),
        "fix_sql": why.fix_sql or "",
        "status_url": link or "",
    }
    return {
        "labels": labels,
        "annotations": {
            "summary": rule.summary,
            "description": description(t),
            "runbook_url": rule.runbook_url,
            **{key: value for key, value in extra.items() if value},
        },
        "startsAt": iso(t.since, "milliseconds"),
        "endsAt": iso(ends, "milliseconds"),
    }


def _sent_alert(message: Message, *, now: datetime, ttl_seconds: float) -> Mapping[str, Any]:
    if not message.firing:
        return message.body
    return {**message.body, "endsAt": iso(now + timedelta(seconds=ttl_seconds), "milliseconds")}


# --- Slack-compatible incoming webhook -----------------------------------------------------


def _slack_escape(text: str) -> str:
    # the three characters Slack's mrkdwn reserves for links and mentions
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def slack_text(t: Transition, public_url: str | None = None) -> str:
    """The first line says it all; a firing message adds the findings and the fix SQL."""
    rule = t.rule
    what = _slack_escape(detail(t))
    head = f"*{rule.alertname}* on `{_slack_escape(t.target)}`"
    link = status_url(public_url, t.target)
    status = f" <{_slack_escape(link)}|status>" if link else ""
    if not t.firing:
        lasted = _duration((t.at - t.since).total_seconds())
        return (
            f":white_check_mark: *RESOLVED* {head}: {what} "
            f"(after {lasted}, since {iso(t.since)}){status}"
        )
    lines = [
        f":rotating_light: *FIRING* {head}: {what} (since {iso(t.since)}) "
        f"<{rule.runbook_url}|runbook>{status}"
    ]
    why = cause(t)
    if why.findings:
        lines.append(f"Attribution: {why.attribution}. Findings:")
        lines += [_slack_escape(line) for line in why.lines]
    if why.fix_sql:
        # inside a code block Slack shows the text as it is, but still reads its markup
        lines.append(f"Fix SQL (never run by driftwatch):\n```\n{_slack_escape(why.fix_sql)}\n```")
    return "\n".join(lines)


# --- generic JSON webhook ------------------------------------------------------------------


def message_id(t: Transition) -> str:
    """Stable across re-tries of one message, so a receiver can drop a duplicate delivery."""
    status = "firing" if t.firing else "resolved"
    raw = f"{t.target}\0{t.condition.value}\0{iso(t.since)}\0{status}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def webhook_json(t: Transition, *, notifier: str, public_url: str | None = None) -> dict[str, Any]:
    rule, why = t.rule, cause(t)
    return {
        "schema_version": WEBHOOK_SCHEMA_VERSION,
        "id": message_id(t),
        "source": SOURCE,
        "driftwatch_version": __version__,
        "notifier": notifier,
        "status": "firing" if t.firing else "resolved",
        "target": t.target,
        "labels": dict(t.labels),
        "condition": t.condition.value,
        "alertname": rule.alertname,
        "severity": rule.severity,
        "started_at": iso(t.since),
        "ended_at": None if t.firing else iso(t.at),
        "changed_at": iso(t.at),
        "summary": rule.summary,
        "description": description(t),
        "runbook_url": rule.runbook_url,
        "status_url": status_url(public_url, t.target),
        "attribution": why.attribution,
        "findings": [finding_json(f) for f in why.findings],
        "findings_omitted": why.omitted,
        "fix_sql": why.fix_sql,
        "report": None if t.report is None else target_json(t.report, DEFAULT_FAIL_ON),
    }


# --- messages ------------------------------------------------------------------------------


def render(
    t: Transition, kind: NotifierKind, *, notifier: str, public_url: str | None = None
) -> Message:
    """The message telling `t` to a receiver of `kind` (named `notifier`); with `public_url`
    (the daemon's address as people reach it), it links to the target's status."""
    body: Mapping[str, Any]
    if kind is NotifierKind.ALERTMANAGER:
        body = alertmanager_alert(t, now=t.at, ttl_seconds=0, public_url=public_url)
        if t.firing:
            del body["endsAt"]  # set at each send: the body stays the same while it fires
    elif kind is NotifierKind.SLACK:
        body = {"text": slack_text(t, public_url)}
    else:
        body = webhook_json(t, notifier=notifier, public_url=public_url)
    return Message(target=t.target, condition=t.condition, firing=t.firing, body=body)


def encode(
    messages: Sequence[Message], kind: NotifierKind, *, now: datetime, ttl_seconds: float
) -> bytes:
    """The request body sending `messages` at `now` (several only to Alertmanager)."""
    if kind is NotifierKind.ALERTMANAGER:
        alerts = [_sent_alert(m, now=now, ttl_seconds=ttl_seconds) for m in messages]
        return json.dumps(alerts).encode()
    [message] = messages
    return json.dumps(message.body).encode()


def batches(items: Sequence[Message], size: int) -> list[Sequence[Message]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
