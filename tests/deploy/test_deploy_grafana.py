"""The Grafana dashboard: provisionable from a file, and every query within the metric contract."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dashboard import (
    GRAFANA_DIR,
    LABELS,
    TARGET_FILTER,
    TARGET_LABELS,
    all_panels,
    dashboard,
    per_target_queries,
    queries,
    reads_label,
    variable_query,
    variables,
    with_values,
)
from tests.support.tools import REPO_ROOT, promql_metric_names, promtool_path

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
# labels Prometheus attaches to every scraped series
SCRAPE_LABELS = {"instance", "job"}
# variables Grafana defines itself
BUILTIN_VARIABLES = {
    "__interval",
    "__interval_ms",
    "__rate_interval",
    "__range",
    "__range_s",
    "__range_ms",
    "__dashboard",
    "__from",
    "__to",
}
VARIABLE_USE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?")
LABEL_VALUES = re.compile(r"^label_values\(\s*([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*,\s*(\w+)\s*\)$")
REPOSITORY_URL = "https://github.com/driftwatch/driftwatch/blob/main/"
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def test_dashboard_provisions_from_a_file() -> None:
    """A file-provisioned dashboard: fixed uid, no numeric id, schemaVersion 39 or later."""
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] == "driftwatch"
    assert board.get("id") is None
    assert "__inputs" not in board, "import-only placeholders do not resolve when provisioned"


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in all_panels(dashboard()["panels"])]
    assert len(ids) == len(set(ids)), ids


def test_panels_fit_the_grid_without_overlapping() -> None:
    """Panels stay in the 24 columns and no two cover the same cell."""
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard()["panels"]):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    """Panels (rows included) and their queries reference ${datasource}, never a fixed uid."""
    for panel in all_panels(dashboard()["panels"]):
        assert panel.get("datasource") == DATASOURCE_REF, panel["title"]
        for target in panel.get("targets", []):
            assert target.get("datasource") == DATASOURCE_REF, panel["title"]


def test_the_overview_sections_exist() -> None:
    """The fleet overview stats, revision table, drift by kind, per-table drift, attribution,
    freshness and notifications."""
    panels = list(all_panels(dashboard()["panels"]))
    types = {panel["title"]: panel["type"] for panel in panels}
    rows = {"Fleet overview", "Revisions", "Schema drift", "Attribution", "Checks"}
    assert rows | {"Notifications"} <= {title for title, kind in types.items() if kind == "row"}
    for title in ("In sync", "Behind", "With drift", "Failing"):
        assert types[title] == "stat", title
    for attribution in ("Drift", "Pending", "Unmigrated", "Unattributed"):
        assert types[f"{attribution} differences"] == "stat", attribution
    assert types["Differences per target and attribution"] == "table"
    assert types["Differences by target and attribution"] == "timeseries"
    assert types["Notification queue"] == "timeseries"
    assert types["Notification deliveries"] == "timeseries"
    assert types["Notifications failed"] == types["Notifications dropped"] == "stat"
    exprs = " ".join(target["expr"] for _, target in queries())
    for needle in (
        "driftwatch_revision_info",
        "driftwatch_migrations_pending",
        "driftwatch_schema_drift_objects",
        "driftwatch_schema_drift_table",
        "driftwatch_check_duration_seconds",
        "time() - max by (target) (driftwatch_last_success_timestamp_seconds",
        "sum by (target, attribution) (max by (target, kind, attribution) "
        "(driftwatch_schema_drift_objects",
        "driftwatch_notifications_queue_length",
        "driftwatch_notifications_queue_capacity",
        "driftwatch_notifications_sent_total",
        "driftwatch_notifications_failed_total",
        "driftwatch_notifications_dropped_total",
        "driftwatch_notifications_errors_total",
    ):
        assert needle in exprs, needle


@pytest.mark.parametrize(("where", "target"), queries(), ids=[where for where, _ in queries()])
def test_query_reads_contract_metrics_filtered_by_target(
    where: str, target: dict[str, Any]
) -> None:
    """Metrics exist in the contract; those with a target label are filtered by $target,
    those with a notifier label by $notifier."""
    expr = target["expr"]
    used = promql_metric_names(expr)
    assert used, f"{where}: no metric in {expr!r}"
    assert used <= set(LABELS), f"{where}: unknown metrics {sorted(used - set(LABELS))}"
    for name, selector in SELECTOR.findall(expr):
        for label in ("target", "notifier"):
            if name in used and label in LABELS[name]:
                wanted = f'{label}=~"${label}"'
                assert wanted in selector, f"{where}: {name} not filtered by ${label}"


@pytest.mark.parametrize(
    ("where", "expr"), per_target_queries(), ids=[where for where, _ in per_target_queries()]
)
def test_per_target_query_keeps_the_targets_the_label_variables_select(
    where: str, expr: str
) -> None:
    """Every query of per-target metrics goes through the one target_info filter that
    applies $team and $env (test_grafana_queries proves what it keeps)."""
    assert TARGET_FILTER in expr, f"{where}: not filtered by the target's labels"


def test_per_target_and_notifier_panels_are_apart() -> None:
    """A panel reads per-target metrics or the notifiers', never both (the label variables
    do not apply to notifiers, which serve every target)."""
    for panel in all_panels(dashboard()["panels"]):
        exprs = [target["expr"] for target in panel.get("targets", [])]
        kinds = {label for e in exprs for label in ("target", "notifier") if reads_label(e, label)}
        assert len(kinds) <= 1, panel["title"]


@pytest.mark.parametrize(("where", "target"), queries(), ids=[where for where, _ in queries()])
def test_query_groups_and_labels_by_existing_labels(where: str, target: dict[str, Any]) -> None:
    """`by (...)` clauses and `{{label}}` legends name labels the selected metrics carry."""
    expr = target["expr"]
    available = SCRAPE_LABELS.union(*(LABELS[name] for name in promql_metric_names(expr)))
    grouped = {
        label.strip()
        for clause in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", expr)
        for label in clause.split(",")
        if label.strip()
    }
    legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
    assert grouped | legend <= available, f"{where}: {sorted((grouped | legend) - available)}"


def test_variables_are_defined_before_use() -> None:
    """Every $variable in panels and variable queries is a templating variable or builtin."""
    board = dashboard()
    text = json.dumps([board["panels"], board["templating"]])
    used = {next(name for name in match if name) for match in VARIABLE_USE.findall(text)}
    assert {"datasource", "target", "team", "env", "notifier"} <= used
    unknown = used - set(variables()) - BUILTIN_VARIABLES
    assert not unknown, f"undefined variables: {sorted(unknown)}"


def test_datasource_and_filter_variables() -> None:
    """A Prometheus datasource picker; team and env lists from the targets' labels; a target
    list narrowed by them; a notifier list. Each multi-value, with an All that is `.*`, so a
    target without a team or env label still shows under All."""
    found = variables()
    assert list(found) == ["datasource", "team", "env", "target", "notifier"]
    datasource = found["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    queries_of = {
        "team": "label_values(driftwatch_target_info, team)",
        "env": "label_values(driftwatch_target_info, env)",
        "target": 'label_values(driftwatch_target_info{team=~"$team", env=~"$env"}, target)',
        "notifier": "label_values(driftwatch_notifications_queue_capacity, notifier)",
    }
    assert set(TARGET_LABELS) < set(queries_of)
    for name, query in queries_of.items():
        variable = found[name]
        assert variable["type"] == "query", name
        assert variable["datasource"] == DATASOURCE_REF, name
        assert variable_query(variable) == query
        assert variable["multi"] is True, name
        assert variable["includeAll"] is True, name
        assert variable["allValue"] == ".*", name


def test_variable_queries_read_contract_metrics() -> None:
    """label_values(metric{...}, label) names a metric of the contract and its labels."""
    for variable in variables().values():
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable_query(variable))
        assert match, f"unexpected variable query {variable_query(variable)!r}"
        metric, selector, label = match.groups()
        matched = set(re.findall(r"(\w+)\s*=~", selector or ""))
        assert {label} | matched <= LABELS[metric], (metric, label, matched)


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (variables replaced by sample values)."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": with_values(target["expr"])}
        for index, (_, target) in enumerate(queries())
    ]
    rules_file = tmp_path / "dashboard.rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [str(promtool_path()), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_files() -> None:
    """The dashboard provider reads files; the datasource example is a Prometheus one."""
    dashboards = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards.yml").read_text())
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources.example.yml").read_text()
    )
    assert datasources["apiVersion"] == 1
    assert {source["type"] for source in datasources["datasources"]} == {"prometheus"}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_into_the_repository_name_files_and_sections_that_exist() -> None:
    """Dashboard and panel links to the repository's files (the runbook) resolve: the file
    exists and the #anchor is one of its headings."""
    board = dashboard()
    links = [
        *board["links"],
        *(link for p in all_panels(board["panels"]) for link in p.get("links", [])),
    ]
    ours = [link["url"] for link in links if link["url"].startswith(REPOSITORY_URL)]
    assert any("#" in url for url in ours), "no link into a runbook section"
    for url in ours:
        path, _, anchor = url.removeprefix(REPOSITORY_URL).partition("#")
        file = REPO_ROOT / path
        assert file.is_file(), url
        if anchor:
            prose = FENCE.sub("", file.read_text(encoding="utf-8"))
            headings = re.findall(r"^#+ (.+)$", prose, re.MULTILINE)
            assert anchor in {github_anchor(h) for h in headings}, url
