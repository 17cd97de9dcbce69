"""The shipped alerting rules: valid for promtool, unit-tested, and within the metric contract."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftwatch.serve.metric_specs import METRIC_NAMES
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
