"""The two alerting paths agree: the notifier and the generated Prometheus rules, driven by the
same check results minute by minute, fire at the same minutes with the same labels.

Each minute, every target's new state goes to the daemon's notification sink (with a clock
that says that minute) and to the metrics collector; the collected samples become promtool's
input series, and each minute's firing Alertmanager alerts of the notifier become promtool's
expected alerts at that minute. promtool then runs the rules `driftwatch rules --config`
generates for the same configuration. Annotations are left out of the comparison (promtool
compares them, and they are worded differently on purpose); labels are not.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from driftwatch.config.loading import load_settings
from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.conditions import RULES
from driftwatch.notify.notifications import Notifications
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from driftwatch.serve.metrics import DriftCollector
from tests.support.scenarios import run_driftwatch
from tests.support.tools import promtool_path

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
MINUTES = 80
# the families the condition alerts read
READ_BY_RULES = {
    "driftwatch_target_info", "driftwatch_check_success", "driftwatch_revision_at_head",
    "driftwatch_migrations_pending", "driftwatch_revision_unknown", "driftwatch_script_heads",
    "driftwatch_schema_drift_objects",
}  # fmt: skip
SCRAPE = {"job": "driftwatch", "instance": "dw-a:9647"}

AT_HEAD = RevisionState(
    kind=RevisionStateKind.AT_HEAD, database_heads=("c3",), script_heads=("c3",),
    pending=(), unknown=(),
)  # fmt: skip
BEHIND = RevisionState(
    kind=RevisionStateKind.BEHIND, database_heads=("a1",), script_heads=("c3",),
    pending=(PendingRevision(revision="b2", message="add x"),
             PendingRevision(revision="c3", message="add y")),
    unknown=(),
)  # fmt: skip
UNKNOWN = RevisionState(
    kind=RevisionStateKind.UNKNOWN_REVISION, database_heads=("d4",), script_heads=("c3",),
    pending=(), unknown=("d4",),
)  # fmt: skip
TWO_HEADS = RevisionState(
    kind=RevisionStateKind.MULTIPLE_SCRIPT_HEADS, database_heads=("c3",),
    script_heads=("c3", "e5"), pending=(), unknown=(),
)  # fmt: skip
ROGUE = Finding(
    kind=FindingKind.EXTRA_COLUMN, schema="public", table="orders", name="rogue",
    expected=None, actual="integer", message="extra column", attribution=Attribution.DRIFT,
    fix="ALTER TABLE public.orders DROP COLUMN rogue;",
)  # fmt: skip
UNMIGRATED = replace(ROGUE, attribution=Attribution.UNMIGRATED, fix=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Minute:
    """What a target's check at one minute finds."""

    revision: RevisionState = AT_HEAD
    findings: tuple[Finding, ...] = ()
    failed: bool = False


def between(start: int, end: int, then: Minute, otherwise: Minute) -> Callable[[int], Minute]:
    return lambda m: then if start <= m < end else otherwise


FINE = Minute()
# target -> (its team, what its check finds at each minute)
TIMELINES: Mapping[str, tuple[str, Callable[[int], Minute]]] = {
    # a rolling deploy: the new pods stamp d4 while this replica still runs the old scripts
    "rollout": ("payments", between(5, 9, Minute(revision=UNKNOWN), FINE)),
    # ... and one whose scripts never catch up
    "stuck": ("payments", between(5, 50, Minute(revision=UNKNOWN), FINE)),
    "drifted": ("db", between(10, 30, Minute(findings=(ROGUE,)), FINE)),
    "hotfixed": ("db", between(10, 13, Minute(findings=(ROGUE,)), FINE)),
    "behind": ("orders", between(0, 40, Minute(revision=BEHIND), FINE)),
    "deploying": ("orders", between(0, 20, Minute(revision=BEHIND), FINE)),
    "modelled": ("orders", between(0, 70, Minute(findings=(UNMIGRATED,)), FINE)),
    "failing": ("db", between(5, 25, Minute(failed=True), FINE)),
    "flapping": ("db", lambda m: Minute(failed=m % 10 < 5)),
    "forked": ("orders", between(0, 20, Minute(revision=TWO_HEADS), FINE)),
}


def report(target: str, team: str, minute: int, found: Minute) -> TargetReport:
    at = T0 + timedelta(minutes=minute)
    base = TargetReport(
        target=target, url=f"postgresql://app:***@db/{target}", dialect="postgresql",
        started_at=at, duration_seconds=0.1, labels={"team": team},
    )  # fmt: skip
    if found.failed:
        return replace(base, error=f"target {target!r}: connection refused")
    schema = SchemaResult(compared=True, findings=found.findings, compared_at=at, method="replay")
    return replace(base, check_kind=CheckKind.FULL, revision=found.revision, schema=schema)


def write_config(path: Path) -> Path:
    lines = []
    for target, (team, _) in TIMELINES.items():
        lines += ["[[targets]]", f'name = "{target}"', f'url = "postgresql://db/{target}"',
                  f'labels = {{ team = "{team}" }}', ""]  # fmt: skip
    lines += ["[[notifiers]]", 'type = "alertmanager"', 'url = "http://am.invalid:9093"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def series_selector(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted({**SCRAPE, **labels}.items()))
    return f"{name}{{{inner}}}"


def values_text(values: list[float | None]) -> str:
    """promtool's notation: a number per minute, `stale` where a series went away (as a
    scrape marks it), `_` where it never was."""
    words, seen = [], False
    for value in values:
        if value is None:
            words.append("stale" if seen and words[-1] not in ("stale", "_") else "_")
        else:
            seen = True
            words.append(f"{value:g}")
    return " ".join(words)


def drive(config: Path) -> tuple[list[dict[str, Any]], dict[str, list[float | None]]]:
    """Every minute's checks through the sink and the collector: the notifier's firing alerts
    as promtool expects them, and the samples as input series."""
    settings = load_settings(config)
    configs = build_notifiers(settings, known_targets=list(TIMELINES))
    clock = {"now": T0}
    sink = Notifications(configs, clock=lambda: clock["now"])
    states = {
        name: TargetState(name=name, dialect="postgresql", labels={"team": team})
        for name, (team, _) in TIMELINES.items()
    }
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(lambda: list(states.values())))
    series: dict[str, list[float | None]] = {}
    expected: list[dict[str, Any]] = []
    for minute in range(MINUTES):
        clock["now"] = T0 + timedelta(minutes=minute)
        for name, (team, timeline) in TIMELINES.items():
            states[name] = states[name].after(report(name, team, minute, timeline(minute)))
            sink(states[name])
        for family in registry.collect():
            for sample in family.samples:
                if sample.name in READ_BY_RULES:
                    key = series_selector(sample.name, sample.labels)
                    series.setdefault(key, [None] * minute)
                    series[key].append(sample.value)
        for values in series.values():
            values.extend([None] * (minute + 1 - len(values)))
        [notifier] = sink.notifiers
        firing: dict[str, list[dict[str, Any]]] = {r.alertname: [] for r in RULES.values()}
        for alert in notifier.memory().alerts:
            labels = dict(alert.body["labels"])
            firing[labels["alertname"]].append(
                {"exp_labels": {k: v for k, v in labels.items() if k != "alertname"}}
            )
        expected += [
            {"eval_time": f"{minute}m", "alertname": name, "exp_alerts": alerts}
            for name, alerts in firing.items()
        ]
    return expected, series


def test_notifier_and_generated_rules_fire_alike_with_the_same_labels(tmp_path: Path) -> None:
    """A rolling deploy's unknown revision, drift fixed within its window, a deploy that
    migrates in time and a flapping check fire on neither path; conditions that outlast
    their windows fire on both, at the same minute, with the same labels (team included)."""
    config = write_config(tmp_path / "driftwatch.toml")
    generated = run_driftwatch("rules", "--config", str(config), cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    rules = yaml.safe_load(generated.stdout)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")

    expected, series = drive(config)
    fired = {
        (case["alertname"], alert["exp_labels"]["target"])
        for case in expected
        for alert in case["exp_alerts"]
    }
    # the notifier side fired what outlasted its window, and nothing else
    assert fired == {
        ("DriftwatchRevisionUnknown", "stuck"), ("DriftwatchSchemaDrift", "drifted"),
        ("DriftwatchMigrationsPending", "behind"), ("DriftwatchModelsUnmigrated", "modelled"),
        ("DriftwatchCheckFailing", "failing"), ("DriftwatchMultipleScriptHeads", "forked"),
    }  # fmt: skip
    first_unknown = min(
        int(case["eval_time"][:-1])
        for case in expected
        if case["alertname"] == "DriftwatchRevisionUnknown" and case["exp_alerts"]
    )
    assert first_unknown == 5 + 30  # its 30 minutes' window, counted from minute 5
    [drift] = next(
        case["exp_alerts"]
        for case in expected
        if case["alertname"] == "DriftwatchSchemaDrift" and case["exp_alerts"]
    )
    assert drift["exp_labels"] == {
        "target": "drifted", "team": "db", "severity": "warning", "attribution": "drift",
    }  # fmt: skip

    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "the notifier's alerts, minute by minute",
                "interval": "1m",
                "input_series": [
                    {"series": key, "values": values_text(values)}
                    for key, values in sorted(series.items())
                ],
                "alert_rule_test": expected,
            }
        ],
    }
    (tmp_path / "paths_test.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = subprocess.run(
        [str(promtool_path()), "test", "rules", "paths_test.yml"],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
