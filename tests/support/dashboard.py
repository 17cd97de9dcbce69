"""Read the shipped Grafana dashboard: its panels, queries and variables, and what the
queries look like once Grafana has put the variables' values in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from driftwatch.serve.metric_specs import ALL_METRICS
from tests.support.tools import REPO_ROOT, promql_metric_names

GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "driftwatch.json"
# the targets' own labels (driftwatch.toml `labels`) the dashboard filters by; the daemon
# exports them on driftwatch_target_info
TARGET_LABELS = ("team", "env")
# every per-target query keeps only the targets the variables select, through this selector
TARGET_FILTER = 'driftwatch_target_info{target=~"$target", team=~"$team", env=~"$env"}'
TARGET_JOIN = f" and on (target) {TARGET_FILTER}"
LABELS = {spec.name: set(spec.labels) for spec in ALL_METRICS}
LABELS["driftwatch_target_info"] |= set(TARGET_LABELS)
# the values Grafana sends with every variable at All (allValue), and for its own variables
ALL = {"target": ".*", "team": ".*", "env": ".*", "notifier": ".*"}
BUILTIN_VALUES = {"__rate_interval": "5m", "__range": "10m"}
_VARIABLE = re.compile(r"\$(\w+)")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def panel(title: str) -> dict[str, Any]:
    [found] = [p for p in all_panels(dashboard()["panels"]) if p["title"] == title]
    return found


def queries() -> list[tuple[str, dict[str, Any]]]:
    """(panel title/refId, query target) for every query of every panel."""
    return [
        (f"{panel['title']}/{target['refId']}", target)
        for panel in all_panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    ]


def reads_label(expr: str, label: str) -> bool:
    """Whether a metric the expression selects carries `label` (`target`, `notifier`)."""
    return any(label in LABELS[name] for name in promql_metric_names(expr))


def per_target_queries() -> list[tuple[str, str]]:
    """(where, expr) of the queries that read per-target metrics."""
    return [(where, t["expr"]) for where, t in queries() if reads_label(t["expr"], "target")]


def variables() -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard()["templating"]["list"]}


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def with_values(expr: str, selected: Mapping[str, str] | None = None) -> str:
    """The expression as Grafana sends it: each `$name` replaced by its value, the
    `selected` ones or else All (a multi-value selection is `(a|b)`)."""
    values = {**ALL, **BUILTIN_VALUES, **(selected or {})}
    return _VARIABLE.sub(lambda match: values[match.group(1)], expr)
