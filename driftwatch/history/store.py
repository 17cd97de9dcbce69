"""The history file: the daemon's schema history, beside its state file.

`<state file's stem>.history.json` in the state file's folder, one JSON document for every
target, written as the state file is (`notify.state_file`: atomically, fsynced, readable by
its owner alone). The daemon reads it once at start: a file it cannot use is moved aside
(`<file>.corrupt-<time>`) with one warning and history starts afresh. `driftwatch history`
only reads it, and says in one line why it cannot.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from driftwatch.errors import ConfigError
from driftwatch.history.entries import HistoryError, TargetHistory, history_from_json

log = logging.getLogger("driftwatch.history")


def history_path(state_file: Path) -> Path:
    """Where the history of a daemon with `state_file` lives."""
    return state_file.with_name(f"{state_file.stem}.history.json")


def _parse(raw: bytes) -> dict[str, TargetHistory]:
    try:
        return history_from_json(json.loads(raw))
    except HistoryError as exc:
        raise HistoryError(f"not a history file this driftwatch reads: {exc}") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise HistoryError(f"not JSON: {exc}") from None


def load_history(path: Path) -> dict[str, TargetHistory]:
    """The daemon's start: the saved histories, or none (a first start, or a file that
    cannot be used, moved aside with one warning)."""
    try:
        return _parse(path.read_bytes())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        reason = f"cannot be read: {exc.strerror}"
    except HistoryError as exc:
        reason = str(exc)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        moved_to: str | None = str(path.replace(aside))
    except OSError:
        moved_to = None
    log.warning(
        "history file unusable: starting without it",
        extra={"fields": {"history_file": str(path), "reason": reason, "moved_to": moved_to}},
    )
    return {}


def read_history(path: Path) -> dict[str, TargetHistory]:
    """`driftwatch history`: the saved histories (none if there is no file yet); a file
    that cannot be used is a ConfigError and is left as it is."""
    try:
        return _parse(path.read_bytes())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"history file {path}: cannot be read: {exc.strerror}") from None
    except HistoryError as exc:
        raise ConfigError(f"history file {path}: {exc}") from None
