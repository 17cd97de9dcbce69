"""Folders of prebuilt expected states: published by `driftwatch snapshot build`, read by a
check of a target with `expected_dir` instead of its scripts, models and scratch database.

The format is `prebuilt_manifest`'s. Publishing writes the states' files first (each named by
its content's digest, so an existing one is already right), then replaces the manifest
atomically: a reader sees the old build or the new one, and reads a state file only through
the manifest that names it, checking its digest, so it never mixes two builds. The files of
the build just replaced are kept (a reader may have read its manifest a moment ago); older
ones are removed. `PrebuiltDirs` re-reads a folder when its manifest changes (`stamps`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from driftwatch.config.targets import Target
from driftwatch.expected.prebuilt_manifest import (
    FORMAT,
    Manifest,
    PrebuiltError,
    choose,
    manifest_text,
    parse_manifest,
)
from driftwatch.expected.snapshot_file import replace_file
from driftwatch.expected.stamps import Stamp, stamp
from driftwatch.expected.states import ReplayStep, RevisionStates
from driftwatch.gc_pause import paused_gc
from driftwatch.snapshot import Snapshot, SnapshotFormatError, from_json, to_json

MANIFEST = "manifest.json"


def state_path(folder: Path, digest: str) -> Path:
    """Where a build's state file of `digest` is: beside the manifest, so that a folder of
    plain files (a Kubernetes ConfigMap, whose keys have no folders) can hold a build."""
    return folder / f"state-{digest}.json"


def state_file(snapshot: Snapshot) -> tuple[str, bytes]:
    """A snapshot as a state file holds it, and the digest that names the file."""
    data = json.dumps(to_json(snapshot), separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest(), data


class Prebuilt:
    """One build read from its folder; its states are read when first asked for."""

    def __init__(
        self,
        folder: Path,
        manifest: Manifest,
        *,
        build_id: str,
        loaded: Mapping[str, Snapshot] | None = None,
    ) -> None:
        self.folder = folder
        self.manifest = manifest
        self.build_id = build_id  # the manifest's digest: one per build
        self._loaded = dict(loaded or {})
        self._lock = threading.Lock()  # checks of several targets may share a folder

    def describe(self) -> str:
        return self.manifest.describe(str(self.folder))

    def loaded(self) -> dict[str, Snapshot]:
        """The states read so far (a copy: other targets' checks may be adding to them)."""
        with self._lock:
            return dict(self._loaded)

    def state(self, digest: str) -> Snapshot:
        """The state file `digest`, read once and checked against its name."""
        with self._lock:
            known = self._loaded.get(digest)
            if known is None:
                known = self._loaded[digest] = self._read(digest)
            return known

    def _read(self, digest: str) -> Snapshot:
        path = state_path(self.folder, digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PrebuiltError(
                f"{path}: a state file of the manifest is missing (an incomplete copy?)"
            ) from None
        except OSError as exc:
            raise PrebuiltError(f"{path} cannot be read: {exc.strerror or exc}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise PrebuiltError(f"{path}: its content is not the one its manifest names")
        try:
            with paused_gc():
                return from_json(json.loads(data), origin=str(path))
        except (ValueError, SnapshotFormatError) as exc:
            raise PrebuiltError(f"{path}: not a snapshot ({str(exc)[:200]})") from None

    def models(self) -> Snapshot | None:
        digest = self.manifest.models_state
        return None if digest is None else self.state(digest)

    def scope_state(self) -> Snapshot:
        """The state whose scope a check watches: the models', else the heads'."""
        return self.models() or self.state(self.manifest.heads_state)

    def revision_states(
        self, database_heads: tuple[str, ...], pending: Sequence[str]
    ) -> RevisionStates:
        """What the migrations produce at `database_heads`, after each of `pending` (oldest
        first) and at the heads, as the build replayed them (see `prebuilt_manifest.choose`)."""
        chosen = choose(self.manifest, database_heads, pending)
        if chosen.at_database is None or chosen.at_head is None:
            return RevisionStates(unavailable=chosen.unavailable)
        return RevisionStates(
            at_database=self.state(chosen.at_database),
            steps=tuple(
                ReplayStep(revision=rev, snapshot=self.state(digest))
                for rev, digest in chosen.steps
            ),
            at_head=self.state(chosen.at_head),
        )


def read_prebuilt(folder: Path, *, dialect: str, previous: Prebuilt | None = None) -> Prebuilt:
    """The build published in `folder`, for a `dialect` database; the states `previous` read
    that the new build still names are kept (a state file never changes)."""
    path = folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        what = "no such folder" if not folder.is_dir() else f"no {MANIFEST} in it"
        raise PrebuiltError(
            f"expected_dir {folder}: {what} (publish one with `driftwatch snapshot build`)"
        ) from None
    except UnicodeDecodeError:
        raise PrebuiltError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise PrebuiltError(f"{path} cannot be read: {exc.strerror or exc}") from None
    manifest = parse_manifest(text, origin=str(path))
    if manifest.dialect != dialect:
        raise PrebuiltError(
            f"{path}: states built on {manifest.dialect} cannot be compared with a "
            f"{dialect} database"
        )
    kept: dict[str, Snapshot] = {}
    if previous is not None and previous.folder == folder:
        names = manifest.digests()
        kept = {d: s for d, s in previous.loaded().items() if d in names}
    build_id = hashlib.sha256(text.encode()).hexdigest()[:16]
    return Prebuilt(folder, manifest, build_id=build_id, loaded=kept)


class PrebuiltDirs:
    """The prebuilt states of each target, read again when its manifest changes: a daemon
    checks with a newly published build at its next tick."""

    def __init__(self) -> None:
        self._read: dict[tuple[Path, str], tuple[Stamp, Prebuilt]] = {}
        self._lock = threading.Lock()

    def current(self, target: Target) -> Prebuilt:
        """`target`'s build as its folder holds it now (blocking: call it from a thread)."""
        folder = target.expected_dir
        if folder is None:
            raise PrebuiltError("no expected_dir", target=target.name)
        key = (folder, target.dialect)
        now = stamp((folder / MANIFEST,))  # before reading: a change meanwhile is seen next time
        with self._lock:
            known = self._read.get(key)
        if known is not None and known[0] == now:
            return known[1]
        try:
            prebuilt = read_prebuilt(
                folder, dialect=target.dialect, previous=known[1] if known else None
            )
        except PrebuiltError as exc:
            raise PrebuiltError(exc.message, target=target.name) from None
        with self._lock:
            self._read[key] = (now, prebuilt)
        return prebuilt


# --- publishing -------------------------------------------------------------------------


def check_publishable(folder: Path) -> None:
    """Refuse, before any work, a folder that cannot be written or holds something else."""
    if folder.exists() and not folder.is_dir():
        raise PrebuiltError(f"--out-dir: {folder} is not a folder")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise PrebuiltError(f"--out-dir: folder {folder.parent} does not exist")
        return
    if not any(folder.iterdir()):
        return
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PrebuiltError(
            f"--out-dir: {folder} is not empty and holds no driftwatch build: not overwritten"
        )


def publish(folder: Path, manifest: Manifest, files: Mapping[str, bytes]) -> None:
    """Publish the build `manifest` (its states' files `files`, by digest) in `folder`."""
    check_publishable(folder)
    previous = _digests_of(folder / MANIFEST)
    try:
        folder.mkdir(exist_ok=True)
        for digest, data in files.items():
            path = state_path(folder, digest)
            if not path.is_file() or path.stat().st_size != len(data):
                replace_file(path, data.decode())
        replace_file(folder / MANIFEST, manifest_text(manifest))
    except OSError as exc:
        raise PrebuiltError(f"--out-dir: cannot write {folder}: {exc.strerror or exc}") from None
    keep = manifest.digests() | previous
    for path in folder.glob("state-*.json"):
        if path.stem.removeprefix("state-") not in keep:
            with contextlib.suppress(OSError):  # a file left over costs only disk space
                path.unlink()


def _digests_of(path: Path) -> frozenset[str]:
    """The states the build at `path` names; none if it is unreadable (nothing to keep)."""
    try:
        return parse_manifest(path.read_text(encoding="utf-8"), origin=str(path)).digests()
    except (OSError, ValueError, PrebuiltError):
        return frozenset()
