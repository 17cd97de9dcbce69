"""The README's promises and its docs' (docs/): its set-up commands, the JSON layout and the
metric list are true."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from driftwatch.check import check_targets
from driftwatch.render.document import report_json
from driftwatch.serve.metric_specs import METRIC_NAMES
from tests.support.scenarios import execute, migrate, shop_target
from tests.support.tools import REPO_ROOT, doc_text, documentation_files, readme_section

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    """The first two commands are the whole set-up; .ci/run runs the README's test command."""
    [(_, block), *_] = FENCE.findall(readme_section("Quick start"))
    install_and_demo, test = block.strip().splitlines()
    assert install_and_demo.endswith("driftwatch demo")
    assert "pytest" in test
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci, "the README's test command must be the one .ci/run runs"


def _shape(value: Any) -> Any:
    """The keys of a JSON document, recursively (lists by their first element); the keys of
    the `counts*` maps are data (finding kinds, attributions), not layout."""
    if isinstance(value, dict):
        return {
            key: "map" if key.startswith("counts") else _shape(item) for key, item in value.items()
        }
    if isinstance(value, list) and value:
        return [_shape(value[0])]
    return None if not isinstance(value, list) else []


def test_json_example_has_the_real_layout(sqlite_url: URL) -> None:
    """The JSON documented in docs/json.md has exactly the keys `check --format json` prints."""
    migrate(sqlite_url, "b2")
    execute(sqlite_url, "ALTER TABLE orders DROP COLUMN note")
    report = asyncio.run(check_targets([shop_target(sqlite_url)]))
    real = report_json(report)
    [(_, documented)] = [b for b in FENCE.findall(doc_text("json.md")) if b[0] == "json"]
    assert _shape(json.loads(documented)) == _shape(real)


def test_every_metric_is_documented() -> None:
    """Each exported metric family has a row in docs/metrics.md's table."""
    text = doc_text("metrics.md")
    missing = sorted(name for name in METRIC_NAMES if f"`{name}`" not in text)
    assert missing == []


def test_docs_name_no_missing_file() -> None:
    """Files the README and docs/ name in their text (docs/..., bench/...) exist."""
    for doc in documentation_files():
        text = doc.read_text(encoding="utf-8")
        for path in set(re.findall(r"\b((?:docs|bench)/[\w./-]*\w)", text)):
            assert (REPO_ROOT / path).exists() or list(Path(REPO_ROOT).glob(path)), (doc, path)


def test_readme_reads_in_ten_minutes() -> None:
    """The README stays an overview of at most 300 lines; the details live in docs/, each page
    of which it links."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    for page in documentation_files()[1:]:
        assert f"](docs/{page.name})" in readme, f"the README does not link docs/{page.name}"
