"""The state file on disk: atomic 0600 writes, a bad file moved aside, debounced writing."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from driftwatch.errors import ConfigError
from driftwatch.notify.conditions import Condition
from driftwatch.notify.memory import NotifyState, state_json
from driftwatch.notify.state_file import StateFile, StateWriter
from tests.unit.test_notify_conditions import at


def state(seconds: float = 0) -> NotifyState:
    return NotifyState(since={"cp": {Condition.DRIFT: at(seconds)}})


class CountingFile(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)


def test_write_replaces_the_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Whatever the old file's mode, the new one is 0600, and no temporary file is left."""
    path = tmp_path / "state.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    StateFile(path).write(b'{"version": 1}')
    assert path.read_bytes() == b'{"version": 1}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_missing_file_is_a_first_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert StateFile(tmp_path / "state.json").load() is None
    assert caplog.records == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "not JSON: "),
        (b"\xff\xfe", "not JSON: "),
        (b'{"version": 99, "targets": {}, "notifiers": {}}',
         "not a state file this driftwatch reads: version 99, this driftwatch reads 1"),
    ],
)  # fmt: skip
def test_a_bad_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, says: str
) -> None:
    """Corrupt or of another version: one warning naming the file and why; nothing lost."""
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.INFO):
        assert StateFile(path).load() is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["state_file"] == str(path)
    assert fields["reason"].startswith(says)
    [aside] = tmp_path.iterdir()
    assert aside.name.startswith("state.json.corrupt-")
    assert fields["moved_to"] == str(aside)
    assert aside.read_bytes() == content


def test_a_saved_state_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    StateFile(path).write(json.dumps(state_json(state())).encode())
    assert StateFile(path).load() == state()


@pytest.mark.parametrize("case", ["missing folder", "folder is a file", "file is a folder"])
def test_a_state_file_that_cannot_be_written_is_bad_configuration(
    tmp_path: Path, case: str
) -> None:
    """One line naming the file, raised before anything runs."""
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    path = {
        "missing folder": tmp_path / "nowhere" / "state.json",
        "folder is a file": tmp_path / "plain" / "state.json",
        "file is a folder": tmp_path / "folder",
    }[case]
    with pytest.raises(ConfigError) as refused:
        StateFile(path).check_writable()
    message = str(refused.value)
    assert message.startswith(f"state_file {path}: ")
    assert "\n" not in message
    StateFile(tmp_path / "state.json").check_writable()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plain"]


async def until(what: str, predicate: Callable[[], bool], within: float = 10) -> float:
    """Wait for `predicate`; return when it came true (event-loop time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
    return loop.time()


def test_writer_writes_changes_only_and_at_most_once_per_interval(tmp_path: Path) -> None:
    """A burst of changes is one write now and one after the interval; no change, no write."""

    async def scenario() -> CountingFile:
        file = CountingFile(tmp_path / "state.json")
        current = [state()]
        writer = StateWriter(file, lambda: current[0], interval=0.5)
        task = asyncio.create_task(writer.run())
        try:
            writer.changed()
            first = await until("the first write", lambda: len(file.writes) == 1)
            for i in range(50):
                current[0] = state(i)
                writer.changed()
                await asyncio.sleep(0)
            assert len(file.writes) == 1  # the interval has not passed
            second = await until("the second write", lambda: len(file.writes) == 2)
            assert second - first >= 0.45
            writer.changed()  # told so, but the state is the one on disk
            await asyncio.sleep(0.7)
            assert len(file.writes) == 2
            current[0] = state(3600)
            assert await writer.save()
            assert len(file.writes) == 3
        finally:
            task.cancel()
        return file

    file = asyncio.run(scenario())
    assert json.loads(file.writes[1]) == state_json(state(49))
    assert StateFile(file.path).load() == state(3600)
