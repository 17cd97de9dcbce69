"""The Grafana dashboard: provisionable from a file, and every query within the metric contract."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftwatch.serve.metric_specs import METRICS
from tests.support.tools import REPO_ROOT, promql_metric_names, promtool_path

GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "driftwatch.json"
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
LABELS = {spec.name: set(spec.labels) for spec in METRICS}
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
LABEL_VALUES = re.compile(r"^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)$")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def queries() -> list[tuple[str, dict[str, Any]]]:
    """(panel title/refId, query target) for every query of every panel."""
    return [
        (f"{panel['title']}/{target['refId']}", target)
        for panel in all_panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def variables() -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard()["templating"]["list"]}


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


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
    """The fleet overview stats, revision table, drift by kind, per-table drift, freshness."""
    panels = list(all_panels(dashboard()["panels"]))
    types = {panel["title"]: panel["type"] for panel in panels}
    assert {"Fleet overview", "Revisions", "Schema drift", "Checks"} <= {
        title for title, kind in types.items() if kind == "row"
    }
    for title in ("In sync", "Behind", "With drift", "Failing"):
        assert types[title] == "stat", title
    exprs = " ".join(target["expr"] for _, target in queries())
    for needle in (
        "driftwatch_revision_info",
        "driftwatch_migrations_pending",
        "driftwatch_schema_drift_objects",
        "driftwatch_schema_drift_table",
        "driftwatch_check_duration_seconds",
        "time() - max by (target) (driftwatch_last_success_timestamp_seconds",
    ):
        assert needle in exprs, needle


@pytest.mark.parametrize(("where", "target"), queries(), ids=[where for where, _ in queries()])
def test_query_reads_contract_metrics_filtered_by_target(
    where: str, target: dict[str, Any]
) -> None:
    """Metrics exist in METRIC_NAMES; those with a target label are filtered by $target."""
    expr = target["expr"]
    used = promql_metric_names(expr)
    assert used, f"{where}: no metric in {expr!r}"
    assert used <= set(LABELS), f"{where}: unknown metrics {sorted(used - set(LABELS))}"
    for name, selector in SELECTOR.findall(expr):
        if name in used and "target" in LABELS[name]:
            assert 'target=~"$target"' in selector, f"{where}: {name} not filtered by $target"


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
    assert {"datasource", "target"} <= used
    unknown = used - set(variables()) - BUILTIN_VARIABLES
    assert not unknown, f"undefined variables: {sorted(unknown)}"


def test_datasource_and_target_variables() -> None:
    """A Prometheus datasource picker, and a multi-value target list with All."""
    found = variables()
    datasource = found["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    target = found["target"]
    assert target["type"] == "query"
    assert target["datasource"] == DATASOURCE_REF
    assert variable_query(target) == "label_values(driftwatch_check_success, target)"
    assert target["multi"] is True
    assert target["includeAll"] is True


def test_variable_queries_read_contract_metrics() -> None:
    """label_values(metric, label) names a metric of the contract and one of its labels."""
    for variable in variables().values():
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable_query(variable))
        assert match, f"unexpected variable query {variable_query(variable)!r}"
        metric, label = match.groups()
        assert label in LABELS[metric], (metric, label)


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every panel query (variables replaced by sample values)."""
    samples = {"$target": ".*", "$__rate_interval": "5m"}
    rules = []
    for index, (_, target) in enumerate(queries()):
        expr = target["expr"]
        for variable, value in samples.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
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
