"""`driftwatch history TARGET` as a user runs it, on history files written as the daemon
writes them (the daemon need not be running)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driftwatch.history.entries import (
    Entry,
    Event,
    FindingFact,
    RevisionFact,
    TargetHistory,
    history_json,
)
from tests.support.daemon import write_config
from tests.support.scenarios import run_driftwatch

NOW = datetime.now(UTC).replace(microsecond=0)
IX = FindingFact(
    kind="extra_index", attribution="drift", schema="main", table="tasks", name="ix_x",
    expected=None, actual="tasks(done)",
)  # fmt: skip


def rev(head: str) -> RevisionFact:
    return RevisionFact(state="at_head", database_heads=(head,), script_heads=(head,), pending=0)


def configured(tmp_path: Path, *, state_file: bool = True) -> Path:
    settings = {"state_file": "state/state.json"} if state_file else {}
    target = {"name": "shop", "url": f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"}
    return write_config(tmp_path / "dw.toml", settings, [target])


def saved(tmp_path: Path, entries: list[Entry]) -> None:
    folder = tmp_path / "state"
    folder.mkdir(exist_ok=True)
    document = history_json({"shop": TargetHistory(entries=tuple(entries))})
    (folder / "state.history.json").write_text(json.dumps(document))


def history(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    done = run_driftwatch("history", *args, "--config", str(tmp_path / "dw.toml"), cwd=tmp_path)
    return done.returncode, done.stdout, done.stderr


def test_history_prints_when_each_change_was_seen(tmp_path: Path) -> None:
    """One line per entry, oldest first, time first: on-call reads when the drift appeared;
    --since keeps the recent ones; --format json carries the same entries as data."""
    configured(tmp_path)
    two_days_ago = NOW - timedelta(days=2)
    saved(
        tmp_path,
        [
            Entry(at=two_days_ago, event=Event.FIRST_SEEN, revision=rev("a1")),
            Entry(
                at=NOW - timedelta(hours=1), event=Event.REVISION, revision=rev("b2"),
                was_revision=rev("a1"),
            ),
            Entry(at=NOW - timedelta(minutes=5), event=Event.APPEARED, finding=IX),
        ],
    )  # fmt: skip
    code, out, err = history(tmp_path, "shop")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{two_days_ago:%Y-%m-%d %H:%M:%S}Z  revision a1 at first check (at head)",
        f"{NOW - timedelta(hours=1):%Y-%m-%d %H:%M:%S}Z  revision a1 -> b2 (at head)",
        f"{NOW - timedelta(minutes=5):%Y-%m-%d %H:%M:%S}Z  "
        "drift appeared: extra_index ix_x on main.tasks",
    ]
    code, out, _ = history(tmp_path, "shop", "--since", "1d")
    assert code == 0 and len(out.splitlines()) == 2
    code, out, _ = history(tmp_path, "shop", "--since", "30m", "--format", "json")
    document = json.loads(out)
    assert (code, document["target"], document["schema_version"]) == (0, "shop", 1)
    ((entry),) = document["entries"]
    assert (entry["event"], entry["finding"]["name"]) == ("appeared", "ix_x")


def test_no_history_is_said_and_is_no_error(tmp_path: Path) -> None:
    """A daemon that never ran (no file yet) has no history: said in one line, exit 0."""
    configured(tmp_path)
    code, out, err = history(tmp_path, "shop")
    assert (code, err) == (0, "")
    assert out.startswith("no history recorded for shop")


def test_bad_requests_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """An unknown target, a bad --since, no state_file, and a file that is no history file
    are each one line on stderr and exit 2; the file is left as it was."""
    configured(tmp_path)
    code, out, err = history(tmp_path, "nope")
    assert (code, out) == (2, "")
    assert err.splitlines() == ["driftwatch: error: unknown target 'nope' (configured: shop)"]
    code, _, err = history(tmp_path, "shop", "--since", "yesterday")
    assert code == 2 and len(err.splitlines()) == 1 and "--since" in err
    code, _, err = history(tmp_path, "shop", "--since", "100000000d")  # past year 1
    assert code == 2 and len(err.splitlines()) == 1 and "at most 100 years" in err
    (tmp_path / "state").mkdir()
    broken = tmp_path / "state" / "state.history.json"
    broken.write_text("{not json")
    code, _, err = history(tmp_path, "shop")
    assert code == 2 and len(err.splitlines()) == 1 and "not JSON" in err
    assert broken.read_text() == "{not json"
    configured(tmp_path, state_file=False)
    code, _, err = history(tmp_path, "shop")
    assert code == 2 and len(err.splitlines()) == 1 and "no state_file" in err
