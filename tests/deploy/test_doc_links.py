"""Links lead somewhere: every relative link of the README and docs/ names a file of the
repository (and, with `#anchor`, one of its headings); every URL into the project's home
(github.com/driftwatch/driftwatch/blob/main/...) that deploy/, the code or the docs carry, such
as alert rules' `runbook_url`, the unit's `Documentation=` and the dashboard's link, names a
file (and heading) that exists here; and the image the manifests run is the one the
documented build of deploy/Dockerfile tags, at the project's version."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.tools import REPO_ROOT, documentation_files

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)(?: +\"[^\"]*\")?\)")
HOME = "https://github.com/driftwatch/driftwatch"
# a URL into a file or folder of the repository at main: the path, then an optional anchor
HOME_URL = re.compile(re.escape(HOME) + r"/(?:blob|tree)/main/([\w./-]+[\w/])(?:#([\w-]+))?")
# where URLs into the repository are shipped: the docs, the deploy files, the code
URL_ROOTS = ("README.md", "docs", "deploy", "driftwatch", "src", "bench", "alembic", ".ci")
IMAGE = "ghcr.io/driftwatch/driftwatch"


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but `-` and `_` dropped,
    each space a `-` (so "`driftwatch serve`" is `driftwatch-serve`)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings (code blocks hold none); a repeated heading
    gets `-1`, `-2` ... as on GitHub."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        slug = base = github_slug(heading)
        count = 0
        while slug in found:
            count += 1
            slug = f"{base}-{count}"
        found.add(slug)
    return found


def relative_links(markdown: str) -> list[str]:
    """The targets of `[text](target)` links outside code that are not URLs."""
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    return [t for t in LINK.findall(prose) if not re.match(r"^[a-z][a-z+.-]*:", t)]


def missing(target: Path, anchor: str | None) -> str | None:
    """Why `target#anchor` leads nowhere, or None when it leads somewhere."""
    if not target.resolve().is_relative_to(REPO_ROOT) or not target.exists():
        return "no such file"
    if anchor and target.suffix == ".md":
        if anchor not in anchors(target.read_text(encoding="utf-8")):
            return f"no heading #{anchor}"
    elif anchor:
        return "an anchor into a file that is not Markdown"
    return None


def shipped_texts() -> Iterator[tuple[Path, str]]:
    """The repository's text files where a URL to its home may be written, with their text."""
    for root in (REPO_ROOT / name for name in URL_ROOTS):
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def home_urls() -> list[tuple[str, str, str | None]]:
    """(where, path in the repository, anchor) of every URL into the repository at main."""
    found = []
    for path, text in shipped_texts():
        where = str(path.relative_to(REPO_ROOT))
        found.extend((where, target, anchor or None) for target, anchor in HOME_URL.findall(text))
    return found


DOC_LINKS = [
    (doc.name, link)
    for doc in documentation_files()
    for link in relative_links(doc.read_text(encoding="utf-8"))
]
HOME_URLS = home_urls()


def test_slugs_follow_github() -> None:
    """The slug rule gives the anchors GitHub gives these headings, repeats included."""
    assert github_slug("`driftwatch serve`") == "driftwatch-serve"
    assert github_slug("1. As a sidecar of the Control Plane") == (
        "1-as-a-sidecar-of-the-control-plane"
    )
    assert github_slug("init_models(): development only") == "init_models-development-only"
    assert github_slug("Snapshots: saving one, and checking against it") == (
        "snapshots-saving-one-and-checking-against-it"
    )
    assert anchors("# A\n```bash\n# not a heading\n```\n## A\n## A\n") == {"a", "a-1", "a-2"}


def test_the_scans_find_what_they_are_for() -> None:
    """The link scan sees the README's links to docs/ and cross-links between docs/ pages;
    the URL scan sees the runbook URLs of the rules and the code, the unit's and the
    dashboard's documentation links."""
    assert ("README.md", "docs/deploying.md") in DOC_LINKS
    assert any(where == "notifications.md" and "#" in link for where, link in DOC_LINKS)
    sources = {where for where, _, _ in HOME_URLS}
    assert {
        "driftwatch/notify/conditions.py",
        "deploy/prometheus/driftwatch.rules.yml",
        "deploy/kubernetes/prometheusrule.yaml",
        "deploy/systemd/driftwatch.service",
        "deploy/grafana/driftwatch.json",
    } <= sources
    assert {anchor for _, _, anchor in HOME_URLS} >= {"driftwatchschemadrift", "driftwatchabsent"}


@pytest.mark.parametrize(("doc", "link"), DOC_LINKS, ids=[f"{d} {link}" for d, link in DOC_LINKS])
def test_relative_link_leads_somewhere(doc: str, link: str) -> None:
    """A link of the README or docs/ names an existing file, and a heading of it if it says
    `#anchor` (a bare `#anchor` is a heading of the same file)."""
    source = REPO_ROOT / doc if doc == "README.md" else REPO_ROOT / "docs" / doc
    path, _, anchor = link.partition("#")
    target = (source.parent / path) if path else source
    assert missing(target, anchor or None) is None, f"{doc}: {link}: {missing(target, anchor)}"


@pytest.mark.parametrize(
    ("where", "path", "anchor"), HOME_URLS, ids=[f"{w} {p}#{a}" for w, p, a in HOME_URLS]
)
def test_url_into_the_repository_names_a_file_of_it(
    where: str, path: str, anchor: str | None
) -> None:
    """A URL into the project's home on GitHub names a file of this repository at that path,
    and a heading of it where it has an anchor: once pushed, the link works."""
    reason = missing(REPO_ROOT / path, anchor)
    assert reason is None, f"{where}: {HOME}/blob/main/{path}#{anchor or ''}: {reason}"


def test_systemd_unit_documentation_is_the_deploying_guide() -> None:
    """The unit's `Documentation=` names the guide that explains it (systemctl shows it)."""
    unit = (REPO_ROOT / "deploy" / "systemd" / "driftwatch.service").read_text(encoding="utf-8")
    [documentation] = [line for line in unit.splitlines() if line.startswith("Documentation=")]
    urls = documentation.removeprefix("Documentation=").split()
    assert urls == [f"{HOME}/blob/main/docs/deploying.md"]
    assert "deploy/systemd/driftwatch.service" in (REPO_ROOT / "docs" / "deploying.md").read_text(
        encoding="utf-8"
    )


def _version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def test_the_image_the_manifests_run_is_the_documented_build() -> None:
    """deploy/Dockerfile says how to build the image the manifests and docs name: the same
    name, tagged with the project's version; every tagged mention of it uses that tag."""
    image = f"{IMAGE}:{_version()}"
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    [build] = [line.lstrip("# ") for line in dockerfile.splitlines() if "docker build" in line]
    argv = shlex.split(build)
    assert argv[argv.index("-f") + 1] == "deploy/Dockerfile"
    assert argv[argv.index("-t") + 1] == image
    deploying = (REPO_ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    assert build in deploying, "the guide builds the image as the Dockerfile says"

    tagged = re.compile(re.escape(IMAGE) + r":([\w.-]+)")
    mentions = 0
    for path, text in shipped_texts():
        for tag in tagged.findall(text):
            mentions += 1
            assert tag == _version(), f"{path.relative_to(REPO_ROOT)} names {IMAGE}:{tag}"
    assert mentions >= 5  # the Dockerfile, three manifests, the guide
    for kustomization in (REPO_ROOT / "deploy" / "kubernetes").rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for entry in spec.get("images", []):
            if entry["name"] == IMAGE:
                assert entry.get("newTag") == _version(), kustomization
