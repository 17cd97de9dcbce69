"""docs/deploying.md and the other docs: config snippets load, the paths they name exist."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from driftwatch.config.loading import load_settings
from tests.support.tools import REPO_ROOT, doc_text, documentation_files

DEPLOYING = doc_text("deploying.md")
# `kubectl exec deploy/<name>` names a Deployment, not a path of the repository
KUBECTL_DEPLOYMENTS = {"deploy/driftwatch", "deploy/control-plane"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(markdown: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(markdown) if lang == language]


TOML_SNIPPETS = blocks(DEPLOYING, "toml")


def test_deploying_has_one_section_per_run_mode() -> None:
    headings = re.findall(r"^## (.+)$", DEPLOYING, re.MULTILINE)
    for mode in ("sidecar", "central daemon", "CronJob"):
        assert any(mode in heading for heading in headings), mode
    assert any("Alert rules" in heading for heading in headings)
    assert any("Grafana" in heading for heading in headings)


@pytest.mark.parametrize(
    "snippet", TOML_SNIPPETS, ids=[f"toml{i}" for i in range(len(TOML_SNIPPETS))]
)
def test_toml_snippets_load_as_driftwatch_settings(
    snippet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each driftwatch.toml shown in the guide is accepted by the settings model."""
    assert tomllib.loads(snippet)["targets"]
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("DRIFTWATCH_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "driftwatch.toml"
    config.write_text(snippet, encoding="utf-8")
    settings = load_settings(config)
    for target in settings.targets:
        assert target.url is None, "a URL in the config file would be a secret in a ConfigMap"


def test_toml_snippets_match_the_shipped_configmaps() -> None:
    """The sidecar, daemon and CronJob snippets are (a subset of) the shipped ConfigMaps."""
    shipped = [
        path.read_text(encoding="utf-8")
        for path in (REPO_ROOT / "deploy" / "kubernetes").rglob("*configmap.yaml")
    ]
    for snippet in TOML_SNIPPETS:
        first_target = tomllib.loads(snippet)["targets"][0]
        assert any(f'url_env = "{first_target["url_env"]}"' in text for text in shipped)


def test_paths_the_docs_name_exist() -> None:
    """deploy/... and docs/... paths mentioned in the README and docs/ are in the repository."""
    for doc in documentation_files():
        name, text = doc.name, doc.read_text(encoding="utf-8")
        for path in set(re.findall(r"\b((?:deploy|docs)/[\w./*-]*[\w*])", text)):
            if path in KUBECTL_DEPLOYMENTS:
                continue
            matches = list(REPO_ROOT.glob(path))
            assert matches, f"{name} names {path}, which does not exist"


def test_kubectl_apply_k_points_at_kustomizations() -> None:
    text = DEPLOYING
    directories = re.findall(r"kubectl(?: -n \S+)? apply -k ([\w./-]*\w)", text)
    assert {"deploy/kubernetes", "deploy/kubernetes/cronjob", "deploy/kubernetes/sidecar"} <= set(
        directories
    )
    for directory in directories:
        assert (REPO_ROOT / directory / "kustomization.yaml").is_file(), directory
