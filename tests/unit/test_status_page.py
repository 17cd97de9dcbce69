"""The status page's HTML from hand-built target states (no server, no database): order of
the fleet, what a target's page shows, and that database text can never become markup."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.history.entries import Entry, Event, FindingFact
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from driftwatch.serve.page import (
    CONTENT_SECURITY_POLICY,
    Standing,
    fleet_page,
    not_found_page,
    standing,
    target_page,
)

NOW = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
HOSTILE = "<script>alert('x')</script>"


def at_head(head: str = "a1") -> RevisionState:
    return RevisionState(
        kind=RevisionStateKind.AT_HEAD,
        database_heads=(head,),
        script_heads=(head,),
        pending=(),
        unknown=(),
    )


def behind() -> RevisionState:
    return RevisionState(
        kind=RevisionStateKind.BEHIND,
        database_heads=("a1",),
        script_heads=("c3",),
        pending=(
            PendingRevision(revision="b2", message="add orders"),
            PendingRevision(revision="c3", message=HOSTILE),
        ),
        unknown=(),
    )


def drift(table: str = "tasks", default: str = "'new'") -> Finding:
    return Finding(
        kind=FindingKind.DEFAULT_MISMATCH,
        schema="main",
        table=table,
        name="status",
        expected=default,
        actual="'old'",
        message=f"default of {table}.status differs",
        attribution=Attribution.DRIFT,
        fix=f"ALTER TABLE {table} ALTER COLUMN status SET DEFAULT {default};",
    )


def state(
    name: str,
    *findings: Finding,
    revision: RevisionState | None = None,
    error: str | None = None,
) -> TargetState:
    base = TargetState(name=name, dialect="postgresql", labels={"team": "db"})
    started = NOW - timedelta(seconds=42)
    if error is not None:
        return base.after(
            TargetReport(
                target=name, url="postgresql://u:***@h/db", dialect="postgresql",
                started_at=started, duration_seconds=0.2, error=error,
            )
        )  # fmt: skip
    return base.after(
        TargetReport(
            target=name,
            url="postgresql://u:***@h/db",
            dialect="postgresql",
            started_at=started,
            duration_seconds=0.2,
            check_kind=CheckKind.FULL,
            revision=revision or at_head(),
            schema=SchemaResult(
                compared=True, findings=findings, compared_at=started, method="replay"
            ),
        )
    )


class Parsed(HTMLParser):
    """The document as a browser's parser sees it: elements, links, text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if tag == "a" and k == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def test_the_fleet_lists_failing_then_drift_then_behind_then_in_sync() -> None:
    """Worst first, whatever the names: the one that cannot be checked, the drifted, the one
    behind its scripts, the healthy; each row links to its target's page."""
    fleet = [
        state("a-ok"),
        state("b-behind", revision=behind()),
        state("c-drift", drift()),
        state("d-down", error="connection refused"),
    ]
    parsed = Parsed(fleet_page(fleet, now=NOW))
    targets = [link for link in parsed.links if link.startswith("/targets/")]
    assert targets == ["/targets/d-down", "/targets/c-drift", "/targets/b-behind", "/targets/a-ok"]
    text = parsed.all_text
    assert "4 targets: 1 could not check, 1 drift, 1 behind, 1 ok." in text
    assert "1 drift" in text  # the drifted row counts its findings by attribution
    assert "BEHIND: 2 migrations pending" in text  # the text report's words
    assert "connection refused" in text
    assert "42 s ago" in text
    assert "script" not in parsed.tags and "img" not in parsed.tags and "link" not in parsed.tags


def test_a_database_behind_compared_without_replay_is_behind_not_drift() -> None:
    """The page judges as the alerts and the log lines do: behind its scripts and compared
    with the models directly, a difference may be a pending migration's."""
    unattributed = replace(drift(), attribution=Attribution.UNATTRIBUTED)
    behind_state = state("x", unattributed, revision=behind())
    good = behind_state.last_good
    assert good is not None and good.schema is not None
    without_replay = replace(good, schema=replace(good.schema, method="snapshot"))
    fresh = TargetState(name="x", dialect="postgresql")
    assert standing(fresh.after(without_replay)) is Standing.BEHIND
    assert standing(behind_state) is Standing.DRIFT  # replayed: drift at any revision


def test_a_target_page_shows_pending_revisions_findings_fix_and_history() -> None:
    """Everything on-call needs on one page: the pending migrations oldest first, each
    finding with both sides in the report's words and its fix, the history newest first."""
    target = state("shop", drift(), revision=behind())
    history = [
        Entry(at=NOW - timedelta(hours=2), event=Event.CHECK_FAILING, error="down"),
        Entry(
            at=NOW - timedelta(minutes=2),
            event=Event.APPEARED,
            finding=FindingFact(
                kind="default_mismatch",
                attribution="drift",
                schema="main",
                table="tasks",
                name="status",
                expected="'new'",
                actual="'old'",
            ),
        ),
    ]
    parsed = Parsed(target_page(target, history, now=NOW))
    text = parsed.all_text
    assert f"b2 add orders c3 {HOSTILE}" in text
    assert "migrations 'new'" in text and "database 'old'" in text
    assert "ALTER TABLE tasks ALTER COLUMN status SET DEFAULT 'new';" in text
    newest = text.index("drift appeared: default_mismatch status on main.tasks")
    assert newest < text.index("check failing: down")
    assert "2026-12-03 14:03:00Z" in text
    assert "/" in parsed.links  # back to the fleet


def test_database_text_is_escaped_everywhere_and_never_becomes_markup() -> None:
    """A table named `<script>...`, a column default, a fix, a revision message and an error
    holding markup come out as text: the parser sees no script element, and the text reads
    back as the database wrote it."""
    hostile = state(HOSTILE, drift(table=HOSTILE, default=f"'{HOSTILE}'"), revision=behind())
    failing = state(f"{HOSTILE}-2", error=f"boom {HOSTILE}")
    pages = [
        fleet_page([hostile, failing], now=NOW),
        target_page(hostile, [], now=NOW),
        target_page(failing, [], now=NOW),
        not_found_page(HOSTILE),
    ]
    for page in pages:
        parsed = Parsed(page)
        assert "script" not in parsed.tags
        assert HOSTILE in parsed.all_text
        assert "<script>" not in page
    # the link to the hostile target is its name percent-encoded, inside a quoted attribute
    assert "/targets/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E" in pages[0]


def test_the_policy_allows_the_pages_own_stylesheet_and_nothing_else() -> None:
    """The CSP's style hash is the hash of the one inline stylesheet (a browser would drop
    the style otherwise), no element carries a style attribute (a hash does not cover
    those), and the viewport is set for phones."""
    page = target_page(state("shop", drift()), [], now=NOW)
    (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none';")
    assert " style=" not in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
