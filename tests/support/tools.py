"""Find the command-line tools the deploy tests drive, and read PromQL without a parser.

A tool is looked up on PATH, then in REPO_ROOT/.cache/bin (where .ci/fetch-promtool puts
promtool); when it is missing the test goes through `unavailable`, so CI fails rather than
skipping. The PromQL reader is deliberately small: it lists the metric names an expression
selects, which is what the contract tests compare with `METRIC_NAMES`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.support.servers import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_BIN = REPO_ROOT / ".cache" / "bin"


def tool_path(name: str, hint: str) -> Path:
    """The executable `name` from PATH or .cache/bin; otherwise skip (or fail in CI)."""
    found = shutil.which(name) or shutil.which(name, path=str(CACHE_BIN))
    if found is None:
        unavailable(f"{name} is not on PATH nor in {CACHE_BIN} ({hint})")
        raise AssertionError("unreachable")
    return Path(found)


def promtool_path() -> Path:
    return tool_path("promtool", "run .ci/fetch-promtool")


def systemd_analyze_path() -> Path:
    return tool_path("systemd-analyze", "install systemd")


def kubectl_path() -> Path:
    return tool_path("kubectl", "kubectl kustomize builds deploy/kubernetes offline")


# words of the PromQL grammar that look like metric names but are not
PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "inf",
        "nan",
        "start",
        "end",
    }
)

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_SELECTOR = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(\s*\()?")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords and labels left out).

    Grafana variables (`$target`, `${datasource}`, `$__rate_interval`) are blanked first,
    so dashboard queries read the same as rule expressions.
    """
    text = _STRING.sub('""', expr)
    text = _GRAFANA_VARIABLE.sub("1", text)
    text = _SELECTOR.sub("", text)
    text = _RANGE.sub("", text)
    text = _LABEL_LIST.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        word, call = match.groups()
        if call is None and word not in PROMQL_KEYWORDS:
            names.add(word)
    return names
