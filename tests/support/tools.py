"""Find the command-line tools the deploy tests drive, and read PromQL without a parser.

A tool is looked up on PATH, then in REPO_ROOT/.cache/bin (where .ci/fetch-promtool puts
promtool); when it is missing the test goes through `unavailable`, so CI fails rather than
skipping. The PromQL reader is deliberately small: it lists the metric names an expression
selects, which is what the contract tests compare with `METRIC_NAMES`.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from tests.support.servers import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO_ROOT / "docs"
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


# the command line of DESIGN.md: subcommand -> the flags deploy files and docs may use
def _cli_flags() -> dict[str, frozenset[str]]:
    """Each subcommand's long options, read from the real argument parser."""
    import argparse  # noqa: PLC0415

    from driftwatch.cli import build_parser  # noqa: PLC0415

    def options(parser: argparse.ArgumentParser) -> set[str]:
        """Long options of `parser` and of its own subcommands (`snapshot live ...`)."""
        found = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found |= options(sub)
        return found

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: frozenset(options(sub)) for name, sub in commands.choices.items()}


DRIFTWATCH_CLI: dict[str, frozenset[str]] = _cli_flags()

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
# `driftwatch` where a shell runs it: line start, after `--` (kubectl exec), `;`, `&&`,
# `sudo`, or as an absolute path; not `-n driftwatch` or `deploy/driftwatch`
_COMMAND = re.compile(r"(?:^\s*|\s--\s+|[;&|]\s*|\bsudo\s+|/bin/)driftwatch\s+([a-z][^;'|&#\n]*)")
# an image reference followed by the container's arguments (docker run)
_IMAGE_ARGS = re.compile(r"/driftwatch:[\w.\-]+\s+([a-z][^;'|&#\n]*)")


def shell_code_blocks(markdown: str) -> list[str]:
    """Fenced code blocks with backslash continuations joined into single lines."""
    return [re.sub(r"\\\n\s*", " ", block) for block in _FENCE.findall(markdown)]


def inline_code_spans(markdown: str) -> list[str]:
    """`code` spans of prose (fenced blocks removed first)."""
    return re.findall(r"`([^`\n]+)`", _FENCE.sub("", markdown))


def driftwatch_command_lines(shell: str) -> list[list[str]]:
    """The argument lists given to `driftwatch` in shell text (docs, comments, units)."""
    found = []
    for line in shell.splitlines():
        for pattern in (_COMMAND, _IMAGE_ARGS):
            found.extend(_before_redirection(shlex.split(match)) for match in pattern.findall(line))
    return found


_REDIRECTIONS = re.compile(r"^\d?(>>?|<)")  # `> file`, `>> file`, `2>&1`, `< file`


def _before_redirection(argv: list[str]) -> list[str]:
    """The arguments up to the first shell redirection (`<target>` is an argument)."""
    for index, word in enumerate(argv):
        placeholder = word.startswith("<") and word.endswith(">")
        if _REDIRECTIONS.match(word) and not placeholder:
            return argv[:index]
    return argv


def readme_section(title: str) -> str:
    """The text of the README's `## <title>` section, up to the next `## ` heading."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n") + 1
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def doc_text(name: str) -> str:
    """The text of `docs/<name>`, where the README's details live."""
    return (DOCS_DIR / name).read_text(encoding="utf-8")


def documentation_files() -> list[Path]:
    """The README and every page of docs/: what users read, and what doc tests scan."""
    return [REPO_ROOT / "README.md", *sorted(DOCS_DIR.glob("*.md"))]
