"""The shipped alerting rules: valid for promtool, unit-tested, and within the metric contract."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftwatch.notify.conditions import DEFAULT_WINDOWS, RULES
from driftwatch.notify.rules import (
    duration_words,
    prometheus_duration,
    prometheusrule_yaml,
    rules_yaml,
)
from driftwatch.serve.metric_specs import METRIC_NAMES
from tests.support.scenarios import run_driftwatch
from tests.support.tools import REPO_ROOT, promql_metric_names, promtool_path

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "driftwatch.rules.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/driftwatch/driftwatch/blob/main/docs/runbook.md#"
# metrics the rules may read besides driftwatch's own: Prometheus's scrape health
FOREIGN_METRICS = {"up"}
SEVERITIES = {"critical", "warning", "info"}
# fires when there are no replicas at all, so it has no two-replica case
ALERTS_WITHOUT_REPLICAS = {"DriftwatchAbsent"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alerting_rules() -> list[dict[str, Any]]:
    groups = load_yaml(RULES_FILE)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool_path()), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_promtool_check_rules_accepts_the_rules_file() -> None:
    """`promtool check rules` parses every rule and expression."""
    result = run_promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    """Every `promtool test rules` case in deploy/prometheus/tests/ passes."""
    assert RULE_TESTS, "no rule unit tests found"
    result = run_promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_rule_reads_only_contract_metrics(rule: dict[str, Any]) -> None:
    """A rule selects only metrics of driftwatch.serve.metric_specs (or Prometheus's `up`)."""
    used = promql_metric_names(rule["expr"])
    assert used, f"no metric found in {rule['expr']!r}"
    unknown = used - METRIC_NAMES - FOREIGN_METRICS
    assert not unknown, f"{rule['alert']} uses metrics outside the contract: {sorted(unknown)}"


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_rule_follows_mixin_conventions(rule: dict[str, Any]) -> None:
    """CamelCase Driftwatch name, a severity, summary/description naming the target, runbook."""
    name = rule["alert"]
    assert re.fullmatch(r"Driftwatch(?:[A-Z][a-z]+)+", name), name
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["runbook_url"] == RUNBOOK_URL + name.lower()
    assert "for" in rule, f"{name} would fire on a single evaluation"
    if "by (target)" in rule["expr"]:
        assert "{{ $labels.target }}" in annotations["description"]


def test_runbook_has_a_section_per_alert() -> None:
    """Each runbook_url anchor resolves to a `## AlertName` heading of docs/runbook.md."""
    headings = {
        line.removeprefix("## ").strip().lower()
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    anchors = {rule["annotations"]["runbook_url"].rpartition("#")[2] for rule in alerting_rules()}
    assert anchors <= headings, f"runbook lacks sections: {sorted(anchors - headings)}"


def unit_test_cases() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(test group, alert_rule_test case) pairs from every promtool test file."""
    cases = []
    for path in RULE_TESTS:
        for group in load_yaml(path)["tests"]:
            cases.extend((group, case) for case in group.get("alert_rule_test", []))
    return cases


def instances_per_target(group: dict[str, Any]) -> dict[str, set[str]]:
    """target (or job, for `up`) -> the instances feeding it in a test group's input."""
    seen: dict[str, set[str]] = {}
    for series in group["input_series"]:
        labels = dict(re.findall(r'(\w+)="([^"]*)"', series["series"]))
        key = labels.get("target") or labels.get("job", "")
        seen.setdefault(key, set()).add(labels.get("instance", ""))
    return seen


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_is_unit_tested_firing_and_silent(rule: dict[str, Any]) -> None:
    """Each alert has a firing case, a silent case, and (with replicas) a two-replica case."""
    cases = [pair for pair in unit_test_cases() if pair[1]["alertname"] == rule["alert"]]
    assert any(case.get("exp_alerts") for _, case in cases), "no firing case"
    assert any(not case.get("exp_alerts") for _, case in cases), "no silent case"
    if rule["alert"] in ALERTS_WITHOUT_REPLICAS:
        return
    two_replicas_one_alert = [
        case
        for group, case in cases
        if len(case.get("exp_alerts") or []) == 1
        and any(len(instances) >= 2 for instances in instances_per_target(group).values())
    ]
    assert two_replicas_one_alert, "no case where two replicas raise a single alert"


def test_shipped_rules_are_what_the_generator_writes_with_the_defaults() -> None:
    """Both shipped rule files are `driftwatch rules` output with the default windows, so the
    rules and the notifier (which read one table) cannot drift apart."""
    kubernetes = REPO_ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"
    fix = "regenerate: driftwatch rules [--format kubernetes] > FILE"
    assert RULES_FILE.read_text(encoding="utf-8") == rules_yaml(), fix
    assert kubernetes.read_text(encoding="utf-8") == prometheusrule_yaml(), fix


def test_shipped_windows_are_the_conditions_windows() -> None:
    """Each condition's alert waits its default window and carries its labels."""
    shipped = {rule["alert"]: rule for rule in alerting_rules()}
    for condition, rule in RULES.items():
        alert = shipped[rule.alertname]
        assert alert["for"] == prometheus_duration(DEFAULT_WINDOWS[condition]), condition
        assert alert["labels"] == rule.labels, condition


def test_configured_windows_and_target_labels_make_valid_rules(tmp_path: Path) -> None:
    """`driftwatch rules --config` writes the configured windows into `for:` and the
    description, joins the targets' labels, and promtool accepts the result."""
    config = tmp_path / "driftwatch.toml"
    config.write_text(
        "alert_windows = { drift = 90, unknown_revision = 5400, check_failing = 0 }\n"
        '[[targets]]\nname = "a"\nurl = "sqlite:///a.db"\nlabels = { team = "db", env = "prod" }\n'
        '[[targets]]\nname = "b"\nurl = "sqlite:///b.db"\nlabels = { team = "web" }\n',
        encoding="utf-8",
    )
    for fmt in ("prometheus", "kubernetes"):
        result = run_driftwatch("rules", "--config", str(config), "--format", fmt, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        document = yaml.safe_load(result.stdout)
        groups = document["groups"] if fmt == "prometheus" else document["spec"]["groups"]
        rules = {r["alert"]: r for g in groups for r in g["rules"]}
        drift = rules["DriftwatchSchemaDrift"]
        assert drift["for"] == "1m30s"
        assert "for more than 90 seconds." in drift["annotations"]["description"]
        assert rules["DriftwatchRevisionUnknown"]["for"] == "1h30m"
        assert rules["DriftwatchCheckFailing"]["for"] == "0s"
        assert "for more than" not in rules["DriftwatchCheckFailing"]["annotations"]["description"]
        assert rules["DriftwatchMigrationsPending"]["for"] == "30m"  # the default stays
        joined = "* on (target) group_left (env, team)\ngroup by (target, env, team)"
        assert joined in drift["expr"]
        assert joined not in rules["DriftwatchDown"]["expr"]  # not per target
    (tmp_path / "rules.yml").write_text(
        run_driftwatch("rules", "--config", str(config), cwd=tmp_path).stdout, encoding="utf-8"
    )
    result = run_promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_with_a_bad_window_exit_2_with_one_line(tmp_path: Path) -> None:
    """A window that is not a number of seconds is refused like any bad setting."""
    config = tmp_path / "driftwatch.toml"
    config.write_text('alert_windows = { drift = "soon" }\n', encoding="utf-8")
    result = run_driftwatch("rules", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "alert_windows.drift: Input should be a valid number" in line


@pytest.mark.parametrize(
    ("seconds", "duration", "words"),
    [(0, "0s", "0 seconds"), (1, "1s", "a second"), (2.5, "2s500ms", "2.5 seconds"),
     (90, "1m30s", "90 seconds"), (300, "5m", "5 minutes"), (3600, "1h", "an hour"),
     (5400, "1h30m", "90 minutes"), (86_400, "1d", "a day"), (7200, "2h", "2 hours")],
)  # fmt: skip
def test_durations_for_prometheus_and_for_people(seconds: float, duration: str, words: str) -> None:
    """A window is written as a Prometheus duration in `for:` and in words in descriptions."""
    assert (prometheus_duration(seconds), duration_words(seconds)) == (duration, words)
