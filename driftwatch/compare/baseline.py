"""Baselines: findings a team has accepted on purpose, read from a JSON file.

A database may carry deliberate differences from its models (an index a DBA added for a
report, an extension's table, a column being phased out). A baseline entry accepts one such
difference, or a family of them through shell-style patterns: it no longer counts as drift,
but it stays in the report with its reason, and it is drift again as soon as it no longer
matches (another column type, when the entry pins `actual`).

`apply` and `regenerate` are pure; `read_baseline` and `write_baseline` are the file edges.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from driftwatch.errors import ConfigError
from driftwatch.findings import Finding, FindingKind

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("version", "accepted")
ENTRY_KEYS = ("kind", "schema", "table", "name", "expected", "actual", "reason")
KINDS = frozenset(kind.value for kind in FindingKind)
NEW_FILE_MODE = 0o644  # a file people read, review and commit


@dataclass(frozen=True, slots=True)
class Exact:
    """A value an entry pins; `None` pins "no value" (a missing object has no `actual`)."""

    value: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineEntry:
    """One accepted difference. `schema`, `table` and `name` are case-sensitive fnmatch
    patterns; `schema` None matches any schema, `name` None only table-level findings;
    `expected` and `actual` None say nothing, an `Exact` must equal the finding's."""

    kind: FindingKind
    table: str
    reason: str
    schema: str | None = None
    name: str | None = None
    expected: Exact | None = None
    actual: Exact | None = None

    def matches(self, finding: Finding) -> bool:
        return (
            finding.kind is self.kind
            and _matches(self.schema, finding.schema, absent_means_any=True)
            and fnmatchcase(finding.table, self.table)
            and _matches(self.name, finding.name, absent_means_any=False)
            and (self.expected is None or self.expected.value == finding.expected)
            and (self.actual is None or self.actual.value == finding.actual)
        )


def _matches(pattern: str | None, value: str | None, *, absent_means_any: bool) -> bool:
    if pattern is None:
        return absent_means_any or value is None
    return value is not None and fnmatchcase(value, pattern)


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    entries: tuple[BaselineEntry, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptedFinding:
    """A finding the baseline accepts, with the entry (and so the reason) that accepts it."""

    finding: Finding
    entry: BaselineEntry

    @property
    def reason(self) -> str:
        return self.entry.reason


def apply(
    findings: Iterable[Finding], baseline: Baseline | None
) -> tuple[tuple[Finding, ...], tuple[AcceptedFinding, ...], tuple[BaselineEntry, ...]]:
    """Split findings into drift and accepted (the first matching entry accepts a finding),
    and list the entries that matched no finding at all, in file order."""
    entries = baseline.entries if baseline is not None else ()
    drift: list[Finding] = []
    accepted: list[AcceptedFinding] = []
    used: set[BaselineEntry] = set()
    for finding in findings:
        matching = [entry for entry in entries if entry.matches(finding)]
        if matching:
            accepted.append(AcceptedFinding(finding=finding, entry=matching[0]))
            used.update(matching)
        else:
            drift.append(finding)
    unmatched = tuple(entry for entry in entries if entry not in used)
    return tuple(drift), tuple(accepted), unmatched


def _literal(name: str | None) -> str | None:
    """`name` as a pattern matching only itself (`[`, `*` and `?` are legal in identifiers)."""
    return None if name is None else glob.escape(name)


def entry_for(finding: Finding, *, reason: str, schema: bool = True) -> BaselineEntry:
    """The entry that accepts exactly this finding, pinned to both its sides: a later change
    in the database or in the models is drift again. `schema=False` leaves the schema out
    (on MySQL it is the database's name, which differs between environments)."""
    return BaselineEntry(
        kind=finding.kind,
        schema=_literal(finding.schema) if schema else None,
        table=glob.escape(finding.table),
        name=_literal(finding.name),
        expected=Exact(finding.expected),
        actual=Exact(finding.actual),
        reason=reason,
    )


def regenerate(
    findings: Iterable[Finding], existing: Baseline | None, *, reason: str, schema: bool = True
) -> Baseline:
    """A baseline accepting every finding: the entries of `existing` that still match one,
    as they are written (patterns and reasons kept), then one new entry per finding they
    leave over, with `reason` (and the schema, unless `schema=False`). Entries that match
    nothing are dropped."""
    findings = sorted(findings, key=lambda f: f.sort_key)
    kept = [e for e in (existing.entries if existing else ()) if any(map(e.matches, findings))]
    new = [
        entry_for(f, reason=reason, schema=schema)
        for f in findings
        if not any(e.matches(f) for e in kept)
    ]
    return Baseline(entries=tuple(dict.fromkeys([*kept, *new])))


# --- the file ---------------------------------------------------------------------------


def entry_document(entry: BaselineEntry) -> dict[str, Any]:
    """An entry as the file writes it: keys that say nothing are left out."""
    document: dict[str, Any] = {"kind": entry.kind.value}
    if entry.schema is not None:
        document["schema"] = entry.schema
    document["table"] = entry.table
    if entry.name is not None:
        document["name"] = entry.name
    if entry.expected is not None:
        document["expected"] = entry.expected.value
    if entry.actual is not None:
        document["actual"] = entry.actual.value
    document["reason"] = entry.reason
    return document


def render(baseline: Baseline) -> str:
    document = {
        "version": FORMAT_VERSION,
        "accepted": [entry_document(entry) for entry in baseline.entries],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}.{key}: must be a non-empty string")
    return value


def _optional_text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if raw.get(key) is None else _text(raw, key, where)


def _pinned(raw: Mapping[str, Any], key: str, where: str) -> Exact | None:
    if key not in raw:
        return None
    value = raw[key]
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: must be a string or null")
    return Exact(value)


def _entry(raw: object, where: str) -> BaselineEntry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object with kind, table and reason")
    unknown = sorted(set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(ENTRY_KEYS)})"
        )
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        kinds = ", ".join(k.value for k in FindingKind)
        raise ConfigError(f"{where}.kind: unknown finding kind {kind!r} (one of: {kinds})")
    return BaselineEntry(
        kind=FindingKind(kind),
        schema=_optional_text(raw, "schema", where),
        table=_text(raw, "table", where),
        name=_optional_text(raw, "name", where),
        expected=_pinned(raw, "expected", where),
        actual=_pinned(raw, "actual", where),
        reason=_text(raw, "reason", where),
    )


def parse(document: object, *, origin: str) -> Baseline:
    """Validate a parsed baseline document; ConfigError naming `origin` and the key if bad."""
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: must be a JSON object with version and accepted")
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)}")
    if document.get("version") != FORMAT_VERSION:
        raise ConfigError(f"{origin}: version: must be {FORMAT_VERSION}")
    accepted = document.get("accepted")
    if not isinstance(accepted, list):
        raise ConfigError(f"{origin}: accepted: must be a list of entries")
    return Baseline(
        entries=tuple(_entry(raw, f"{origin}: accepted[{i}]") for i, raw in enumerate(accepted))
    )


def read_baseline(path: Path) -> Baseline:
    """Read and validate a baseline file; one-line ConfigError if it is missing or bad."""
    origin = f"baseline file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{origin} does not exist (write one with driftwatch check --write-baseline)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{origin} cannot be read: {detail}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin} is not valid JSON: {exc}") from None
    return parse(document, origin=origin)


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Replace `path` atomically (a temporary file in its folder, then os.replace), keeping
    the permissions of the file it replaces."""
    temporary: Path | None = None
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else NEW_FILE_MODE
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        temporary = Path(name)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(render(baseline))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(mode)
        temporary.replace(path)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write baseline file {path}: {exc.strerror}") from None
