"""Prebuilt expected states as data: the manifest of a folder `driftwatch snapshot build`
writes, and which of its states a database at given heads is compared with. Pure: no I/O
(the files are `prebuilt`).

A folder holds `manifest.json` and, beside it, one file per distinct snapshot, named by the
SHA-256 of its bytes (`state-<digest>.json`). The manifest names every state by that digest:
the revision graph (each revision, what it builds on, the heads) with the state each
revision's migrations produce, the state at base (an empty version table), at the heads
together, and the models' state; the dialect and server version they were built on; the
content keys of the scripts and models; the driftwatch version and the format version. A
manifest and the files it names are one build: files never change once written, so a reader
never mixes two builds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftwatch.errors import ConfigError
from driftwatch.revisions import ScriptGraph, ScriptRevision

FORMAT = "driftwatch-expected-states"
FORMAT_VERSION = 1
DIGEST = re.compile(r"^[0-9a-f]{64}$")
REVISION = re.compile(r"^[A-Za-z0-9_.+@:\-]{1,255}$")


class PrebuiltError(ConfigError):
    """A folder of prebuilt expected states that cannot be used: missing, not one, another
    format version or dialect, a file of it missing or altered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """What one build holds; every state is the digest of its file."""

    target: str
    dialect: str
    server_version: str  # of the scratch server the states were built on
    built_at: str  # ISO 8601, UTC
    driftwatch_version: str
    scripts_key: str
    models_key: str | None  # None: no models configured
    version_table: str
    graph: ScriptGraph
    order: tuple[str, ...]  # every revision, oldest first
    revision_states: Mapping[str, str]  # revision -> digest (absent: before a replay_stamp)
    base_state: str | None  # an empty version table; None where the replay starts stamped
    heads_state: str
    models_state: str | None

    def digests(self) -> frozenset[str]:
        """Every file the build consists of."""
        found = {*self.revision_states.values(), self.heads_state}
        found |= {d for d in (self.base_state, self.models_state) if d is not None}
        return frozenset(found)

    def describe(self, folder: str) -> str:
        """One line for a report: where the states came from and what built them."""
        return (
            f"expected states prebuilt in {folder} (target {self.target!r}, built "
            f"{self.built_at} on {self.dialect} {self.server_version}, "
            f"driftwatch {self.driftwatch_version})"
        )


def manifest_document(manifest: Manifest) -> dict[str, Any]:
    """The JSON document of `manifest`."""
    graph = manifest.graph
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "driftwatch_version": manifest.driftwatch_version,
        "built_at": manifest.built_at,
        "target": manifest.target,
        "dialect": manifest.dialect,
        "server_version": manifest.server_version,
        "scripts_key": manifest.scripts_key,
        "models_key": manifest.models_key,
        "version_table": manifest.version_table,
        "heads": sorted(graph.heads),
        "revisions": [
            {
                "revision": rev,
                "down_revisions": list(graph.revisions[rev].parents),
                "message": graph.revisions[rev].message,
                "state": manifest.revision_states.get(rev),
            }
            for rev in manifest.order
        ],
        "base_state": manifest.base_state,
        "heads_state": manifest.heads_state,
        "models_state": manifest.models_state,
    }


def manifest_text(manifest: Manifest) -> str:
    return json.dumps(manifest_document(manifest), indent=2, ensure_ascii=False) + "\n"


def parse_manifest(text: str, *, origin: str) -> Manifest:
    """The manifest `text` read from `origin`; one PrebuiltError line if it is not one this
    driftwatch reads."""
    try:
        data = json.loads(text)
    except ValueError:
        raise PrebuiltError(f"{origin}: not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PrebuiltError(
            f"{origin}: not a manifest of prebuilt expected states "
            "(write one with `driftwatch snapshot build`)"
        )
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise PrebuiltError(
            f"{origin}: format_version {version!r} is not the one this driftwatch reads "
            f"({FORMAT_VERSION}); build the states again with this version"
        )
    fields = _Fields(data, origin)
    order, revisions, states = _revisions(data.get("revisions"), origin)
    heads = fields.strings("heads")
    if not heads or any(head not in revisions for head in heads):
        raise PrebuiltError(f"{origin}: heads must name revisions of the manifest")
    return Manifest(
        target=fields.text("target"),
        dialect=fields.text("dialect"),
        server_version=fields.text("server_version"),
        built_at=fields.text("built_at"),
        driftwatch_version=fields.text("driftwatch_version"),
        scripts_key=fields.text("scripts_key"),
        models_key=fields.optional_text("models_key"),
        version_table=fields.text("version_table"),
        graph=ScriptGraph(revisions=revisions, heads=heads),
        order=order,
        revision_states=states,
        base_state=fields.optional_digest("base_state"),
        heads_state=fields.digest("heads_state"),
        models_state=fields.optional_digest("models_state"),
    )


class _Fields:
    """Typed reads of a manifest's top-level fields, each failing with one line."""

    def __init__(self, data: dict[str, Any], origin: str) -> None:
        self.data, self.origin = data, origin

    def text(self, key: str) -> str:
        value = self.optional_text(key)
        if value is None:
            raise PrebuiltError(f"{self.origin}: {key} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise PrebuiltError(f"{self.origin}: {key} must be a non-empty string or null")
        return value

    def digest(self, key: str) -> str:
        value = self.optional_digest(key)
        if value is None:
            raise PrebuiltError(f"{self.origin}: {key} is not a SHA-256 digest")
        return value

    def optional_digest(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and (not isinstance(value, str) or not DIGEST.fullmatch(value)):
            raise PrebuiltError(f"{self.origin}: {key} is not a SHA-256 digest")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PrebuiltError(f"{self.origin}: {key} must be a list of strings")
        return tuple(value)


def _revisions(
    raw: object, origin: str
) -> tuple[tuple[str, ...], dict[str, ScriptRevision], dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise PrebuiltError(f"{origin}: revisions must be a non-empty list")
    order: list[str] = []
    revisions: dict[str, ScriptRevision] = {}
    states: dict[str, str] = {}
    for entry in raw:
        fields = _Fields(entry if isinstance(entry, dict) else {}, origin)
        rev = fields.text("revision")
        if not REVISION.fullmatch(rev) or rev in revisions:
            raise PrebuiltError(f"{origin}: revision {rev!r} is not an id, or is listed twice")
        parents = fields.strings("down_revisions")
        unknown = [p for p in parents if p not in revisions]
        if unknown:  # listed oldest first: what a revision builds on comes before it
            raise PrebuiltError(
                f"{origin}: revision {rev!r} builds on {unknown[0]!r}, not listed before it"
            )
        message = fields.data.get("message")
        revisions[rev] = ScriptRevision(
            revision=rev, parents=parents, message=message if isinstance(message, str) else ""
        )
        state = fields.optional_digest("state")
        if state is not None:
            states[rev] = state
        order.append(rev)
    return tuple(order), revisions, states


@dataclass(frozen=True, slots=True, kw_only=True)
class Chosen:
    """The digests of the states a database at given heads is compared with, or why not."""

    at_database: str | None = None
    steps: tuple[tuple[str, str], ...] = ()  # (pending revision, digest), oldest first
    at_head: str | None = None
    unavailable: str | None = None


def choose(manifest: Manifest, database_heads: tuple[str, ...], pending: Sequence[str]) -> Chosen:
    """The states for a database at `database_heads` with `pending` revisions to run
    (oldest first, as `revisions.revision_state` lists them).

    A pending revision's state stands for the step that applies it only where the pending
    revisions form one chain on top of the database's heads (each builds on the one before
    alone): elsewhere (branches, dependencies) the steps are left out, as for a replay of
    too many revisions, and pending findings are not told apart by revision.
    """
    heads = tuple(sorted(database_heads))
    if not heads:
        at = manifest.base_state
    elif heads == tuple(sorted(manifest.graph.heads)):
        at = manifest.heads_state
    elif len(heads) == 1:
        at = manifest.revision_states.get(heads[0])
    else:
        at = None
    if at is None:
        where = ",".join(heads) or "base"
        return Chosen(unavailable=f"the prebuilt states hold no state at {where}")
    steps: list[tuple[str, str]] = []
    before = heads
    for rev in pending:
        state = manifest.revision_states.get(rev)
        if state is None or manifest.graph.revisions[rev].parents != before:
            steps = []
            break
        steps.append((rev, state))
        before = (rev,)
    return Chosen(at_database=at, steps=tuple(steps), at_head=manifest.heads_state)
