"""The dashboard's queries, evaluated by promtool on what the daemon's real collectors expose.

A fleet of targets in every state (behind and failing with differences of three
attributions, compared without replay, in sync, on an unknown revision), each state under
four label sets (payments/prod, payments/staging, orders/prod, and no labels at all), scraped
from two replicas for twenty minutes together with two notifiers' counters and queues. Then:

- the label filters: every per-target query, with the team/env/target variables set as a
  user would set them, returns exactly what the same query without the filter returns for
  the targets those labels name; and the fleet makes each such choice change each result,
  so a query that ignored a variable could not pass;
- the attribution and notifier panels return the values the input implies.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from driftwatch.compare.baseline import AcceptedFinding, BaselineEntry
from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.notify.messages import NotifierKind
from driftwatch.notify.queue import NotifierStats
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from driftwatch.serve.metrics import DriftCollector, NotificationCollector
from tests.support.dashboard import (
    TARGET_FILTER,
    TARGET_JOIN,
    panel,
    per_target_queries,
    with_values,
)
from tests.support.exposition import SeriesRecorder
from tests.support.tools import promtool_path

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
MINUTES = 20
EVAL_TIME = f"{MINUTES - 1}m"
REPLICAS = ("dw-a:9647", "dw-b:9647")
FAILING_FROM = 10  # the troubled targets' checks fail from this minute on

# the targets' own labels; "bare" has none, as targets configured without labels
LABEL_SETS: Mapping[str, Mapping[str, str]] = {
    "pay-prod": {"team": "payments", "env": "prod"},
    "pay-stage": {"team": "payments", "env": "staging"},
    "ord-prod": {"team": "orders", "env": "prod"},
    "bare": {},
}


def revision(kind: RevisionStateKind, pending: int = 0) -> RevisionState:
    return RevisionState(
        kind=kind, database_heads=("a1",), script_heads=("c3",) if pending else ("a1",),
        pending=tuple(PendingRevision(revision=f"r{i}", message="m") for i in range(pending)),
        unknown=("zz",) if kind is RevisionStateKind.UNKNOWN_REVISION else (),
    )  # fmt: skip


def finding(table: str, kind: FindingKind, attribution: Attribution) -> Finding:
    return Finding(
        kind=kind, schema="public", table=table, name="x", expected=None, actual="x",
        message="m", attribution=attribution,
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """What a target's checks find, every minute."""

    revision: RevisionState
    findings: tuple[Finding, ...] = ()
    method: str = "replay"
    fails_from: int | None = None


ACCEPTED = finding("audit", FindingKind.EXTRA_INDEX, Attribution.DRIFT)
PROFILES: Mapping[str, Profile] = {
    # behind, with differences of three attributions in four (table, attribution) pairs, then
    # failing: what is known stays the last good check's
    "troubled": Profile(
        revision=revision(RevisionStateKind.BEHIND, pending=2),
        findings=(
            finding("orders", FindingKind.EXTRA_COLUMN, Attribution.DRIFT),
            finding("invoices", FindingKind.EXTRA_INDEX, Attribution.DRIFT),
            finding("refunds", FindingKind.MISSING_TABLE, Attribution.PENDING),
            finding("orders", FindingKind.MISSING_COLUMN, Attribution.UNMIGRATED),
        ),
        fails_from=FAILING_FROM,
    ),
    # compared with the models, no replay: every difference unattributed
    "unreplayed": Profile(
        revision=revision(RevisionStateKind.AT_HEAD),
        findings=(
            finding("orders", FindingKind.EXTRA_COLUMN, Attribution.UNATTRIBUTED),
            finding("orders", FindingKind.TYPE_MISMATCH, Attribution.UNATTRIBUTED),
        ),
        method="snapshot",
    ),
    "healthy": Profile(revision=revision(RevisionStateKind.AT_HEAD)),
    "unknown": Profile(revision=revision(RevisionStateKind.UNKNOWN_REVISION)),
}
TARGETS: Mapping[str, tuple[Profile, Mapping[str, str]]] = {
    f"{profile_name}-{labels_name}": (profile, labels)
    for profile_name, profile in PROFILES.items()
    for labels_name, labels in LABEL_SETS.items()
}


def target_report(name: str, profile: Profile, minute: int) -> TargetReport:
    at = T0 + timedelta(minutes=minute)
    base = TargetReport(
        target=name, url=f"postgresql://db/{name}", dialect="postgresql", started_at=at,
        duration_seconds=0.5, labels=TARGETS[name][1],
    )  # fmt: skip
    if profile.fails_from is not None and minute >= profile.fails_from:
        return replace(base, error="connection refused")
    accepted = AcceptedFinding(
        finding=ACCEPTED,
        entry=BaselineEntry(kind=ACCEPTED.kind, table=ACCEPTED.table, reason="legacy"),
    )
    schema = SchemaResult(
        compared=True, findings=profile.findings, compared_at=at, method=profile.method,
        accepted=(accepted,) if profile.findings else (),
    )  # fmt: skip
    return replace(base, check_kind=CheckKind.FULL, revision=profile.revision, schema=schema)


# per notifier and minute: (sent, failed, dropped, errors) added per minute; queued, capacity
NOTIFIERS: Mapping[str, tuple[NotifierKind, tuple[int, int, int, int], int, int]] = {
    "hooks": (NotifierKind.WEBHOOK, (120, 60, 0, 180), 3, 100),
    "pager": (NotifierKind.ALERTMANAGER, (60, 0, 60, 0), 100, 100),
}


def notifier_stats(minute: int, replica: int) -> list[NotifierStats]:
    stats = []
    for name, (kind, (sent, failed, dropped, errors), queued, capacity) in NOTIFIERS.items():
        stats.append(
            NotifierStats(
                name=name,
                kind=kind,
                queued=queued + replica,
                capacity=capacity,
                sent=sent * minute,
                failed=failed * minute,
                dropped=dropped * minute,
                errors=errors * minute,
            )
        )
    return stats


def fleet_series() -> list[dict[str, str]]:
    """Every minute, each replica checks every target and is scraped."""
    states = {
        name: TargetState(name=name, dialect="postgresql", labels=labels)
        for name, (_, labels) in TARGETS.items()
    }
    clock = {"minute": 0}
    recorder = SeriesRecorder()
    registries = []
    for replica, _ in enumerate(REPLICAS):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DriftCollector(lambda: list(states.values()), drift_table_limit=2))
        registry.register(
            NotificationCollector(lambda r=replica: notifier_stats(clock["minute"], r))
        )
        registries.append(registry)
    for minute in range(MINUTES):
        clock["minute"] = minute
        for name, (profile, _) in TARGETS.items():
            states[name] = states[name].after(target_report(name, profile, minute))
        for registry, instance in zip(registries, REPLICAS, strict=True):
            recorder.scrape(registry, instance=instance)
        recorder.next_minute()
    return recorder.input_series()


def run_promtool_tests(tmp_path: Path, cases: list[dict[str, Any]]) -> None:
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": fleet_series(), "promql_expr_test": cases}],
    }
    (tmp_path / "dashboard_test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = subprocess.run(
        [str(promtool_path()), "test", "rules", "dashboard_test.yml"],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


# --- the label filters --------------------------------------------------------------------

# what a user selects -> the variables' values as Grafana sends them
SELECTIONS: Mapping[str, Mapping[str, str]] = {
    "all": {},
    "team payments": {"team": "payments"},
    "env prod": {"env": "prod"},
    "two teams, staging": {"team": "(payments|orders)", "env": "staging"},
    "one target": {"target": "unknown-bare"},
    "a team no target has": {"team": "nobody"},
}


def selected_targets(selection: Mapping[str, str]) -> list[str]:
    """The targets a selection names, by Prometheus's rule: a regex matcher is anchored, and
    a missing label is the empty string (which `.*` matches)."""
    values = {"target": ".*", "team": ".*", "env": ".*", **selection}
    return [
        name
        for name, (_, labels) in TARGETS.items()
        if re.fullmatch(values["target"], name)
        and all(re.fullmatch(values[label], labels.get(label, "")) for label in ("team", "env"))
    ]


def unfiltered(expr: str, targets: list[str]) -> str:
    """The query without the label filter, restricted to `targets` by name instead."""
    names = "|".join(targets)
    plain = expr.replace(TARGET_JOIN, "").replace(
        TARGET_FILTER, 'driftwatch_target_info{target=~"$target"}'
    )
    assert "$team" not in plain and "$env" not in plain, expr
    return with_values(plain, {"target": names})


def differences(a: str, b: str) -> str:
    """The samples where two instant vectors differ: a value, or a series on one side only."""
    return f"(({a}) != ({b})) or (({a}) unless ({b})) or (({b}) unless ({a}))"


def test_selections_name_the_targets_they_should() -> None:
    """The fixture's selections: All includes the targets without labels; the others narrow."""
    assert len(selected_targets(SELECTIONS["all"])) == len(TARGETS)
    assert "healthy-bare" in selected_targets(SELECTIONS["all"])
    assert selected_targets(SELECTIONS["env prod"]) == [
        f"{profile}-{labels}" for profile in PROFILES for labels in ("pay-prod", "ord-prod")
    ]
    assert selected_targets(SELECTIONS["two teams, staging"]) == [
        f"{profile}-pay-stage" for profile in PROFILES
    ]
    assert selected_targets(SELECTIONS["a team no target has"]) == []


def test_label_filters_keep_exactly_the_selected_targets(tmp_path: Path) -> None:
    """Each per-target query under each selection equals the unfiltered query over the
    selected targets; and the selection changes the result (the fleet discriminates)."""
    assert len(per_target_queries()) >= 25
    everything = list(TARGETS)
    cases: list[dict[str, Any]] = []
    for _, expr in per_target_queries():
        for selection in SELECTIONS.values():
            targets = selected_targets(selection)
            filtered = with_values(expr, selection)
            cases.append(
                {
                    "expr": differences(filtered, unfiltered(expr, targets)),
                    "eval_time": EVAL_TIME,
                    "exp_samples": [],
                }
            )
            if targets != everything:
                narrowed = differences(unfiltered(expr, targets), unfiltered(expr, everything))
                # absent() of a non-empty vector is empty: the selection did change it
                cases.append({"expr": f"absent({narrowed})", "eval_time": EVAL_TIME,
                              "exp_samples": []})  # fmt: skip
    run_promtool_tests(tmp_path, cases)


# --- attribution and notifier panels -----------------------------------------------------


def only(title: str) -> str:
    [target] = panel(title)["targets"]
    return str(target["expr"])


def sample(value: float, name: str = "", **labels: str) -> dict[str, Any]:
    inner = ", ".join(f'{key}="{v}"' for key, v in sorted(labels.items()))
    return {"labels": f"{name}{{{inner}}}", "value": value}


def test_attribution_panels_add_up_the_differences(tmp_path: Path) -> None:
    """Per attribution totals over the selected targets, and the per target and attribution
    table (kinds added up, replicas not), from the troubled and the unreplayed targets."""
    by_target = only("Differences per target and attribution")
    assert by_target == only("Differences by target and attribution")
    prod = {"env": "prod"}
    expected_prod = [
        sample(value, target=f"{profile}-{labels}", attribution=attribution)
        for labels in ("pay-prod", "ord-prod")
        for profile, attribution, value in (
            ("troubled", "drift", 2), ("troubled", "pending", 1),
            ("troubled", "unmigrated", 1), ("unreplayed", "unattributed", 2),
        )
    ]  # fmt: skip
    totals = {"Drift": 8, "Pending": 4, "Unmigrated": 4, "Unattributed": 8}
    cases = [
        {"expr": with_values(by_target, prod), "eval_time": EVAL_TIME,
         "exp_samples": expected_prod},
        *({"expr": with_values(only(f"{name} differences")), "eval_time": EVAL_TIME,
           "exp_samples": [sample(total)]} for name, total in totals.items()),
        {"expr": with_values(only("Drift differences"), {"team": "payments"}),
         "eval_time": EVAL_TIME, "exp_samples": [sample(4)]},
        {"expr": with_values(only("Unattributed differences"), {"target": "healthy-bare"}),
         "eval_time": EVAL_TIME, "exp_samples": [sample(0)]},
    ]  # fmt: skip
    run_promtool_tests(tmp_path, cases)


def test_notifier_panels_show_queues_deliveries_and_losses(tmp_path: Path) -> None:
    """Queue length against capacity per replica; sent/failed/dropped/errors per second over
    both replicas; failed and dropped over the range; each narrowed by $notifier."""
    queue = {t["refId"]: t["expr"] for t in panel("Notification queue")["targets"]}
    deliveries = {t["legendFormat"].split()[-1]: t["expr"]
                  for t in panel("Notification deliveries")["targets"]}  # fmt: skip
    assert set(deliveries) == {"sent", "failed", "dropped", "errors"}
    cases = []
    for name, (_, per_minute, queued, capacity) in NOTIFIERS.items():
        one = {"notifier": name}
        scrapes = [{"notifier": name, "instance": i, "job": "driftwatch"} for i in REPLICAS]
        cases += [
            {"expr": with_values(queue["A"], one), "eval_time": EVAL_TIME,
             "exp_samples": [sample(queued + replica, "driftwatch_notifications_queue_length",
                                    **labels) for replica, labels in enumerate(scrapes)]},
            {"expr": with_values(queue["B"], one), "eval_time": EVAL_TIME,
             "exp_samples": [sample(capacity, "driftwatch_notifications_queue_capacity",
                                    **labels) for labels in scrapes]},
        ]  # fmt: skip
        for what, added in zip(("sent", "failed", "dropped", "errors"), per_minute, strict=True):
            # two replicas, `added` a minute each
            cases.append({"expr": with_values(deliveries[what], one), "eval_time": EVAL_TIME,
                          "exp_samples": [sample(2 * added / 60, notifier=name)]})  # fmt: skip
    # ten minutes ($__range) of both replicas: hooks fails 60 a minute, pager drops 60
    for title, total, hooks in (("Notifications failed", 1200, 1200),
                                ("Notifications dropped", 1200, 0)):  # fmt: skip
        cases += [
            {"expr": with_values(only(title)), "eval_time": EVAL_TIME,
             "exp_samples": [sample(total)]},
            {"expr": with_values(only(title), {"notifier": "hooks"}), "eval_time": EVAL_TIME,
             "exp_samples": [sample(hooks)]},
        ]  # fmt: skip
    run_promtool_tests(tmp_path, cases)
