"""Notification bodies and delivery rules, built from hand-made transitions (no I/O)."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.notify.conditions import Condition, Transition
from driftwatch.notify.delivery import (
    RETRY_AFTER_CAP_SECONDS,
    Verdict,
    _connect_reason,
    backoff_delay,
    classify,
    failure_reason,
    redact,
    retry_after_seconds,
    retry_delay,
)
from driftwatch.notify.messages import (
    FIX_CHARS,
    LISTED_FINDINGS,
    WEBHOOK_SCHEMA_VERSION,
    NotifierKind,
    encode,
    message_id,
    render,
    webhook_json,
)
from driftwatch.render.document import target_json
from driftwatch.report import DEFAULT_FAIL_ON, SchemaResult
from tests.support.tools import doc_text
from tests.unit.test_notify_conditions import AT_HEAD, BEHIND, ROGUE, at, failed, good

NOW = at(3600)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def transition(
    condition: Condition, *, firing: bool = True, report: object = None, since: float = 0
) -> Transition:
    default = {
        Condition.DRIFT: good(at(since), AT_HEAD, ROGUE),
        Condition.PENDING: good(at(since), BEHIND),
        Condition.CHECK_FAILING: failed(at(since)),
    }
    chosen = report if report is not None else default.get(condition, good(at(since)))
    return Transition(
        target="cp",
        labels={"team": "db", "severity": "page-me"},  # a clashing label loses to ours
        condition=condition,
        firing=firing,
        since=at(since),
        at=at(900) if not firing else at(since),
        report=chosen,  # type: ignore[arg-type]
    )


def sent(t: Transition, kind: NotifierKind, *, now: datetime = NOW) -> Any:
    """The JSON a receiver of `kind` gets for `t`, rendered when queued and sent at `now`."""
    message = render(t, kind, notifier="ops")
    return json.loads(encode([message], kind, now=now, ttl_seconds=240))


def test_alertmanager_firing_alert_has_labels_annotations_and_a_future_end() -> None:
    """A firing alert carries the rule's name, severity and runbook, and endsAt ahead of now."""
    [alert] = sent(transition(Condition.DRIFT), NotifierKind.ALERTMANAGER)
    assert alert["labels"] == {
        "alertname": "DriftwatchSchemaDrift",
        "target": "cp",
        "severity": "warning",
        "attribution": "drift",
        "team": "db",
    }
    notes = alert["annotations"]
    assert notes["summary"] == "The live schema differs from the models."
    assert notes["runbook_url"].endswith("docs/runbook.md#driftwatchschemadrift")
    assert (
        "1 schema difference (extra_column 1), differs from the models: "
        "extra_column public.agents.rogue" in notes["description"]
    )
    assert alert["startsAt"] == "2026-11-24T06:00:00.000Z"
    assert alert["endsAt"] == "2026-11-24T07:04:00.000Z"  # now + 240 s
    assert "generatorURL" not in alert


def test_alertmanager_resolved_alert_ends_when_it_was_resolved() -> None:
    """A resolved alert's endsAt is the time it ended, not the time it was sent."""
    gone = transition(Condition.DRIFT, firing=False, report=good(at(900)))
    [alert] = sent(gone, NotifierKind.ALERTMANAGER)
    assert alert["endsAt"] == "2026-11-24T06:15:00.000Z"
    assert alert["startsAt"] == "2026-11-24T06:00:00.000Z"
    assert "matches the models again" in alert["annotations"]["description"]


def test_slack_says_status_target_condition_and_the_key_detail() -> None:
    """One line of text per message: firing or resolved, the target, the alert, the detail."""
    pending = sent(transition(Condition.PENDING), NotifierKind.SLACK)
    assert list(pending) == ["text"]
    text = pending["text"]
    assert text.startswith(":rotating_light: *FIRING* *DriftwatchMigrationsPending* on `cp`")
    assert "2 migrations pending (database a1, head c3; next b2 'add x')" in text
    assert "#driftwatchmigrationspending|runbook>" in text
    failing = sent(transition(Condition.CHECK_FAILING), NotifierKind.SLACK)["text"]
    assert "target 'cp': connection refused" in failing
    resolved = sent(
        transition(Condition.PENDING, firing=False, report=good(at(900))), NotifierKind.SLACK
    )
    assert resolved["text"].startswith(
        ":white_check_mark: *RESOLVED* *DriftwatchMigrationsPending*"
    )
    assert "after 15m" in resolved["text"]
    assert "\n" not in resolved["text"]


def test_slack_escapes_its_markup_characters() -> None:
    """An error line with <, > or & cannot break Slack's link syntax."""
    odd = replace(failed(at(0)), error="bad <value> & more")
    text = sent(transition(Condition.CHECK_FAILING, report=odd), NotifierKind.SLACK)["text"]
    assert "bad &lt;value&gt; &amp; more" in text


def test_generic_webhook_body_is_versioned_and_carries_the_report() -> None:
    """The generic body has the documented keys, and the target's JSON as `check` prints it."""
    t = transition(Condition.DRIFT)
    body = sent(t, NotifierKind.WEBHOOK)
    assert body["schema_version"] == WEBHOOK_SCHEMA_VERSION == 1
    assert body["id"] == message_id(t)
    assert {k: body[k] for k in ("source", "notifier", "status", "target", "condition")} == {
        "source": "driftwatch", "notifier": "ops", "status": "firing", "target": "cp",
        "condition": "drift",
    }  # fmt: skip
    assert body["labels"] == {"team": "db", "severity": "page-me"}
    assert (body["alertname"], body["severity"]) == ("DriftwatchSchemaDrift", "warning")
    assert (body["started_at"], body["ended_at"]) == ("2026-11-24T06:00:00Z", None)
    assert t.report is not None
    assert body["report"] == target_json(t.report, DEFAULT_FAIL_ON)
    assert sorted(body) == sorted([
        "schema_version", "id", "source", "driftwatch_version", "notifier", "status", "target",
        "labels", "condition", "alertname", "severity", "started_at", "ended_at", "changed_at",
        "summary", "description", "runbook_url", "status_url", "attribution", "findings",
        "findings_omitted", "fix_sql", "report",
    ])  # fmt: skip
    resolved = sent(transition(Condition.DRIFT, firing=False), NotifierKind.WEBHOOK)
    assert (resolved["status"], resolved["ended_at"]) == ("resolved", "2026-11-24T06:15:00Z")
    assert resolved["id"] != body["id"]


def drifted(count: int, *, fix: str = "ALTER TABLE public.t{n} DROP COLUMN rogue;") -> object:
    """A report of `count` drift findings (replayed), each with its fix."""
    findings = tuple(
        Finding(
            kind=FindingKind.EXTRA_COLUMN, schema="public", table=f"t{n:02}", name="rogue",
            expected=None, actual="integer", message=f"extra column public.t{n:02}.rogue",
            attribution=Attribution.DRIFT, fix=fix.format(n=f"{n:02}"),
        )
        for n in range(count)
    )  # fmt: skip
    report = good(at(0))
    return replace(report, schema=SchemaResult(compared=True, findings=findings, method="replay"))


def every_body(t: Transition, public_url: str | None = None) -> dict[NotifierKind, Any]:
    return {
        kind: render(t, kind, notifier="ops", public_url=public_url).body for kind in NotifierKind
    }


def test_a_drift_message_names_attribution_findings_and_fix_sql_within_bounds() -> None:
    """Each kind of message carries the attribution, the first 20 findings and "and N more",
    and the fix SQL of the findings it lists."""
    bodies = every_body(transition(Condition.DRIFT, report=drifted(LISTED_FINDINGS + 5)))
    hook = bodies[NotifierKind.WEBHOOK]
    assert hook["attribution"] == "drift"
    assert [f["table"] for f in hook["findings"]] == [f"t{n:02}" for n in range(20)]
    assert hook["findings_omitted"] == 5
    fixes = hook["fix_sql"].splitlines()
    assert fixes[0] == "ALTER TABLE public.t00 DROP COLUMN rogue;"
    assert len(fixes) == LISTED_FINDINGS
    assert hook["status_url"] is None
    text = bodies[NotifierKind.SLACK]["text"]
    assert "Attribution: drift. Findings:" in text
    assert "- extra_column public.t19.rogue: extra column public.t19.rogue" in text
    assert "t20.rogue" not in text
    assert "- and 5 more" in text
    assert "```\nALTER TABLE public.t00 DROP COLUMN rogue;\n" in text
    notes = bodies[NotifierKind.ALERTMANAGER]["annotations"]
    assert notes["findings"].splitlines()[-1] == "- and 5 more"
    assert notes["fix_sql"] == hook["fix_sql"]
    assert "status_url" not in notes


def test_fix_sql_is_bounded() -> None:
    """A huge fix (a view's definition, say) is cut, saying how much was left out."""
    huge = "CREATE VIEW v{n} AS SELECT " + "x, " * 5000 + "1;"
    hook = every_body(transition(Condition.DRIFT, report=drifted(3, fix=huge)))[
        NotifierKind.WEBHOOK
    ]
    assert len(hook["fix_sql"]) < FIX_CHARS + 100
    assert "more characters, sha256" in hook["fix_sql"]


def test_unmigrated_and_pending_messages_name_their_findings_without_fix_sql() -> None:
    """Unmigrated findings are listed with their attribution; only drift has fix SQL."""
    report = drifted(2)
    assert isinstance(report, type(good(at(0)))) and report.schema is not None
    unmigrated = tuple(
        replace(f, attribution=Attribution.UNMIGRATED, fix=None) for f in report.schema.findings
    )
    models = replace(report, schema=replace(report.schema, findings=unmigrated))
    hook = every_body(transition(Condition.UNMIGRATED, report=models))[NotifierKind.WEBHOOK]
    assert (hook["attribution"], len(hook["findings"]), hook["fix_sql"]) == ("unmigrated", 2, None)
    assert hook["alertname"] == "DriftwatchModelsUnmigrated"
    assert "the models hold what the head's migrations do not produce" in hook["description"]
    pending = every_body(transition(Condition.PENDING))[NotifierKind.WEBHOOK]
    assert pending["attribution"] == "pending"
    assert (pending["findings"], pending["fix_sql"]) == ([], None)


def test_messages_link_to_the_status_under_public_url() -> None:
    """With public_url, firing and resolved messages of every kind link to the target."""
    url = "https://dw.example/driftwatch/targets/cp"
    for firing in (True, False):
        t = transition(Condition.DRIFT, firing=firing, report=drifted(1))
        bodies = every_body(t, public_url="https://dw.example/driftwatch")
        assert bodies[NotifierKind.WEBHOOK]["status_url"] == url
        assert bodies[NotifierKind.ALERTMANAGER]["annotations"]["status_url"] == url
        assert f"<{url}|status>" in bodies[NotifierKind.SLACK]["text"]
    resolved = every_body(transition(Condition.DRIFT, firing=False, report=good(at(900))))
    assert resolved[NotifierKind.WEBHOOK]["findings"] == []
    assert "\n" not in resolved[NotifierKind.SLACK]["text"]


def test_backoff_grows_doubles_and_caps_with_bounded_jitter() -> None:
    """Delays double from the initial one up to the cap; jitter takes off at most half."""
    slowest = [backoff_delay(n, initial=1, cap=60, jitter=0) for n in range(9)]
    assert slowest == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    fastest = [backoff_delay(n, initial=1, cap=60, jitter=1) for n in range(9)]
    assert fastest == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(10_000, initial=1, cap=60, jitter=0.5) == 45


def test_retry_after_is_honoured_within_a_cap() -> None:
    """Retry-After in seconds or as a date lengthens the wait, never beyond the cap."""
    now = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds("Tue, 24 Nov 2026 06:00:30 GMT", now) == 30
    assert retry_after_seconds("Tue, 24 Nov 2026 05:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
    assert retry_delay(0, initial=1, cap=60, jitter=0, retry_after=7) == 7
    assert retry_delay(6, initial=1, cap=60, jitter=0, retry_after=7) == 60
    assert retry_delay(0, initial=1, cap=60, jitter=0, retry_after=86400) == RETRY_AFTER_CAP_SECONDS


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, Verdict.DELIVERED), (202, Verdict.DELIVERED), (204, Verdict.DELIVERED),
     (301, Verdict.REJECTED), (400, Verdict.REJECTED), (401, Verdict.REJECTED),
     (404, Verdict.REJECTED), (408, Verdict.RETRY), (429, Verdict.RETRY),
     (500, Verdict.RETRY), (502, Verdict.RETRY), (503, Verdict.RETRY)],
)  # fmt: skip
def test_status_verdicts(status: int, verdict: Verdict) -> None:
    """2xx is delivered; 408, 429 and 5xx are retried; other 3xx and 4xx are given up."""
    assert classify(status) is verdict


def test_failure_reasons_never_contain_the_url() -> None:
    """Failures are described by their kind, never by aiohttp's texts (which hold the URL)."""
    secret = "http://hooks.example/services/T0/B0/s3cr3t"
    reasons = [
        _connect_reason(ConnectionRefusedError(111, "refused")),
        _connect_reason(socket.gaierror(-2, "Name or service not known")),
        failure_reason(TimeoutError(), 2.5),
        failure_reason(aiohttp.InvalidURL(secret), 10),
        failure_reason(aiohttp.ServerDisconnectedError(), 10),
    ]
    assert reasons == [
        "connection refused", "the host name does not resolve", "no answer within 2.5 s",
        "InvalidURL", "the server closed the connection",
    ]  # fmt: skip
    echoed = redact(
        f"bad hook {secret}\nor /services/T0/B0/s3cr3t", [secret, "/services/T0/B0/s3cr3t"]
    )
    assert echoed == "bad hook <redacted> or <redacted>"


def test_documented_examples_have_the_real_layout() -> None:
    """docs/notifications.md's Alertmanager and webhook examples have exactly the keys sent."""
    section = doc_text("notifications.md")
    blocks = [json.loads(b) for lang, b in FENCE.findall(section) if lang == "json"]
    [am_example], hook_example = blocks
    t = transition(Condition.DRIFT)
    [alert] = sent(t, NotifierKind.ALERTMANAGER)
    assert sorted(am_example) == sorted(alert)
    assert set(am_example["labels"]) == {"team", "alertname", "target", "severity", "attribution"}
    assert sorted(am_example["annotations"]) == sorted(alert["annotations"])
    assert sorted(hook_example) == sorted(webhook_json(t, notifier="ops"))
    assert hook_example["schema_version"] == WEBHOOK_SCHEMA_VERSION
