"""The status page: the fleet at `/`, one page per target at `/targets/{name}`. Pure.

Functions from the daemon's target states to HTML strings. Everything shown that came from
a database (schema, table and column names, defaults, SQL, error texts) is hostile input and
passes `_e` (HTML escaping) on its way in; the page has no script and no external asset,
and its one stylesheet is inline with its hash in the Content-Security-Policy, so it works
offline and behind a strict policy. Wording follows the text report (`render`).
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from enum import IntEnum
from urllib.parse import quote

from driftwatch import __version__
from driftwatch.bounds import FINDINGS_LISTED, first, listing
from driftwatch.findings import Finding
from driftwatch.history.entries import Entry, time_text
from driftwatch.notify.conditions import Condition, judged
from driftwatch.notify.target import TargetState
from driftwatch.render.text import (
    FINDING_GROUPS,
    finding_details,
    revision_headline,
)
from driftwatch.report import TargetReport

REFRESH_SECONDS = 30  # the fleet page reloads itself (a meta refresh: no script)

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;
background:#f6f7f9}
main{max-width:72rem;margin:0 auto;padding:.75rem}
h1{font-size:1.35rem;margin:.5rem 0}h2{font-size:1.1rem;margin:1.25rem 0 .5rem}
a{color:#0b5cad}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#57606a}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.3rem;font-weight:600;
font-size:.8rem;white-space:nowrap}
.failing{background:#ffd7d5;color:#82071e}.drift{background:#ffe2b3;color:#7a4100}
.behind{background:#fff3b0;color:#5c4a00}.waiting{background:#e3e6ea;color:#32383f}
.ok{background:#d2f4dc;color:#0f5323}
.card{background:#fff;border:1px solid #e3e6ea;border-radius:.4rem;padding:.5rem .75rem;
margin:.5rem 0;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem .75rem;margin:.25rem 0}
dt{color:#57606a}dd{margin:0}
pre{background:#f0f2f4;padding:.5rem;border-radius:.3rem;overflow-x:auto;white-space:pre-wrap;
margin:.25rem 0}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
.muted{color:#57606a;font-size:.85rem}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The page's policy: its own inline stylesheet and nothing else (no script, no image)."""


class Standing(IntEnum):
    """A target's place on the fleet page, worst first."""

    FAILING = 0  # the latest check failed
    DRIFT = 1  # the last good check found drift
    BEHIND = 2  # the revision is not the scripts' head (behind, unknown, migrating ...)
    WAITING = 3  # not checked yet
    OK = 4


_STANDING_WORDS = {
    Standing.FAILING: ("failing", "COULD NOT CHECK"),
    Standing.DRIFT: ("drift", "DRIFT"),
    Standing.BEHIND: ("behind", "BEHIND"),
    Standing.WAITING: ("waiting", "NOT CHECKED YET"),
    Standing.OK: ("ok", "OK"),
}


def standing(state: TargetState) -> Standing:
    latest, good = state.latest, state.last_good
    if latest is None:
        return Standing.WAITING
    if latest.problem() is not None:
        return Standing.FAILING
    if Condition.DRIFT in judged(good):  # as the alerts and the log lines judge it
        return Standing.DRIFT
    if good is not None and good.revision is not None and not good.revision.in_sync:
        return Standing.BEHIND
    return Standing.OK


def target_path(name: str) -> str:
    return f"/targets/{quote(name, safe='')}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: Iterable[str], *, refresh: int | None = None) -> str:
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
    ]
    if refresh is not None:
        head.append(f'<meta http-equiv="refresh" content="{refresh}">')
    head += [f"<title>{_e(title)}</title>", f"<style>{_STYLE}</style>", "</head><body><main>"]
    tail = [f'<p class="muted">driftwatch {_e(__version__)}</p>', "</main></body></html>"]
    return "\n".join([*head, *body, *tail]) + "\n"


def _badge(state: TargetState) -> str:
    place = standing(state)
    css, words = _STANDING_WORDS[place]
    good = state.last_good
    if place is Standing.BEHIND and good is not None and good.revision is not None:
        words = good.revision.kind.value.replace("_", " ").upper()  # behind, migrating ...
    return f'<span class="badge {css}">{_e(words)}</span>'


def _ago(at: datetime, now: datetime) -> str:
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    return f'{_e(time_text(at))} <span class="muted">({_ago(at, now)})</span>'


def _attribution_summary(report: TargetReport | None) -> str:
    if report is None or report.schema is None:
        return '<span class="muted">not known</span>'
    if not report.schema.compared:
        return f'<span class="muted">not compared: {_e(report.schema.skipped_reason)}</span>'
    counts = report.schema.counts_by_attribution()
    if not counts:
        return "none"
    return ", ".join(
        f"{counts[a.value]} {_e(a.value)}" for a, _meaning in FINDING_GROUPS if a.value in counts
    )


def _revision_cell(report: TargetReport | None) -> str:
    if report is None or report.revision is None:
        return '<span class="muted">not known</span>'
    return _e(revision_headline(report.revision))


# --- the fleet ------------------------------------------------------------------------


def fleet_page(states: Sequence[TargetState], *, now: datetime) -> str:
    """Every target, the failing first, then drift, behind, not yet checked, in sync."""
    ordered = sorted(states, key=lambda s: (standing(s), s.name))
    counts = dict.fromkeys(Standing, 0)
    for state in ordered:
        counts[standing(state)] += 1
    summary = ", ".join(
        f"{counts[place]} {_STANDING_WORDS[place][1].lower()}"
        for place in Standing
        if counts[place]
    )
    body = [
        "<h1>driftwatch: schema drift</h1>",
        f"<p>{len(ordered)} target{'s' if len(ordered) != 1 else ''}: {summary}.</p>",
        '<div class="scroll"><table id="fleet">',
        "<thead><tr><th>target</th><th>status</th><th>revision</th>"
        "<th>findings</th><th>last check</th></tr></thead><tbody>",
    ]
    body += [_fleet_row(state, now) for state in ordered]
    body += [
        "</tbody></table></div>",
        f'<p class="muted">as of {_e(time_text(now))}; reloads every {REFRESH_SECONDS} s. '
        'JSON: <a href="/report">/report</a>, metrics: <a href="/metrics">/metrics</a></p>',
    ]
    return _page("driftwatch", body, refresh=REFRESH_SECONDS)


def _fleet_row(state: TargetState, now: datetime) -> str:
    place = standing(state)
    latest = state.latest
    error = latest.problem() if latest is not None else None
    last = _when(latest.started_at if latest is not None else None, now)
    if error is not None:
        last += f'<br><span class="muted">{_e(_first_line(error))}</span>'
    return (
        f'<tr class="target" data-standing="{_STANDING_WORDS[place][0]}">'
        f'<td><a href="{_e(target_path(state.name))}">{_e(state.name)}</a>'
        f'<br><span class="muted">{_e(state.dialect)}</span></td>'
        f"<td>{_badge(state)}</td>"
        f"<td>{_revision_cell(state.last_good)}</td>"
        f"<td>{_attribution_summary(state.last_good)}</td>"
        f"<td>{last}</td></tr>"
    )


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit] + "…"


# --- one target -----------------------------------------------------------------------


def target_page(state: TargetState, history: Sequence[Entry], *, now: datetime) -> str:
    """One target: its standing, revision with pending migrations, findings with both sides
    and their fix, and its history, newest first."""
    latest, good = state.latest, state.last_good
    body = [
        '<p><a href="/">&larr; all targets</a></p>',
        f"<h1>{_e(state.name)} {_badge(state)}</h1>",
        '<div class="card"><dl>',
        f"<dt>dialect</dt><dd>{_e(state.dialect)}</dd>",
    ]
    if latest is not None:
        body.append(f"<dt>database</dt><dd><code>{_e(latest.url)}</code></dd>")
    for key, value in sorted(state.labels.items()):
        body.append(f"<dt>{_e(key)}</dt><dd>{_e(value)}</dd>")
    body.append(f"<dt>last check</dt><dd>{_when(latest.started_at if latest else None, now)}")
    if latest is not None:
        kind = latest.check_kind.value if latest.check_kind is not None else "failed"
        body.append(f' <span class="muted">{_e(kind)}, {latest.duration_seconds:.2f} s</span>')
    body.append("</dd>")
    body.append(
        f"<dt>last success</dt><dd>{_when(good.started_at if good else None, now)}</dd></dl></div>"
    )
    problem = latest.problem() if latest is not None else None
    if problem is not None:
        body += ["<h2>could not check</h2>", f"<pre><code>{_e(problem)}</code></pre>"]
    body += list(_revision_section(good))
    body += list(_findings_section(good))
    body += list(_history_section(history))
    return _page(f"{state.name}: driftwatch", body)


def _revision_section(report: TargetReport | None) -> Iterator[str]:
    yield "<h2>revision</h2>"
    if report is None or report.revision is None:
        yield '<p class="muted">not known yet</p>'
        return
    revision = report.revision
    heads = revision.database_heads
    database = "(no version table)" if heads is None else listing(heads) or "(base)"
    yield f"<p>{_e(revision_headline(revision))}</p>"
    yield '<div class="card"><dl>'
    yield f"<dt>database</dt><dd><code>{_e(database)}</code></dd>"
    yield f"<dt>head</dt><dd><code>{_e(listing(revision.script_heads) or '(none)')}</code></dd>"
    yield "</dl></div>"
    if revision.pending:
        yield f"<h2>pending migrations ({len(revision.pending)}, oldest first)</h2>"
        yield '<ol id="pending">'
        for item in revision.pending:
            yield f"<li><code>{_e(item.revision)}</code> {_e(item.message)}</li>"
        yield "</ol>"


def _findings_section(report: TargetReport | None) -> Iterator[str]:
    yield "<h2>findings</h2>"
    schema = report.schema if report is not None else None
    if schema is None:
        yield '<p class="muted">not known yet</p>'
        return
    if not schema.compared:
        yield f'<p class="muted">not compared: {_e(schema.skipped_reason)}</p>'
        return
    method = f" ({_e(schema.method)})" if schema.method else ""
    compared = _e(time_text(schema.compared_at)) if schema.compared_at else "unknown"
    yield f'<p class="muted">compared at {compared}{method}</p>'
    for note in schema.notes:
        yield f'<p class="muted">note: {_e(note)}</p>'
    if not schema.findings:
        yield "<p>none: the schema matches what is expected</p>"
    shown, omitted = first(schema.findings, FINDINGS_LISTED)
    for attribution, meaning in FINDING_GROUPS:
        group = [f for f in shown if f.attribution is attribution]
        if group:
            yield f"<h2>{_e(meaning)} ({len(group)})</h2>"
            yield from (_finding_card(f) for f in group)
    if omitted:
        yield f'<p>… and {omitted} more (see <a href="/report">/report</a>)</p>'
    if schema.accepted:
        yield f'<p class="muted">{len(schema.accepted)} accepted by the baseline</p>'


def _finding_card(finding: Finding) -> str:
    where = finding.path
    rows = [
        f"<dt>kind</dt><dd>{_e(finding.kind.value)} "
        f'<span class="muted">{_e(finding.severity.value)}</span></dd>',
        f"<dt>object</dt><dd><code>{_e(where)}</code></dd>",
    ]
    rows += [
        f"<dt>{_e(name)}</dt><dd><code>{_e(value)}</code></dd>"
        for name, value in finding_details(finding)
    ]
    fix = "" if finding.fix is None else f'<pre class="fix"><code>{_e(finding.fix)}</code></pre>'
    return (
        f'<div class="card finding"><div>{_e(finding.message)}</div>'
        f"<dl>{''.join(rows)}</dl>{fix}</div>"
    )


def _history_section(history: Sequence[Entry]) -> Iterator[str]:
    yield "<h2>history</h2>"
    if not history:
        yield '<p class="muted">no changes recorded yet</p>'
        return
    yield '<div class="scroll"><table id="history"><tbody>'
    for entry in reversed(history):
        yield (
            f'<tr><td class="muted">{_e(time_text(entry.at))}</td><td>{_e(entry.text)}</td></tr>'
        )
    yield "</tbody></table></div>"


def not_found_page(name: str) -> str:
    body = [
        '<p><a href="/">&larr; all targets</a></p>',
        "<h1>no such target</h1>",
        f"<p>driftwatch monitors no target named <code>{_e(name)}</code>.</p>",
    ]
    return _page("no such target: driftwatch", body)
