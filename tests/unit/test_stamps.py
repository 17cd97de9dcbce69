"""The one change test for inputs on disk (scripts, baseline files)."""

from __future__ import annotations

import os
from pathlib import Path

from driftwatch.expected.stamps import stamp


def test_an_edit_changes_the_stamp_and_a_reread_does_not(tmp_path: Path) -> None:
    script = tmp_path / "a1.py"
    script.write_text("revision = 'a1'\n")
    before = stamp((script,))

    assert stamp((script,)) == before
    script.write_text("revision = 'a1'  # edited\n")
    assert stamp((script,)) != before


def test_a_file_swapped_in_by_a_symlink_changes_the_stamp(tmp_path: Path) -> None:
    """A Kubernetes ConfigMap update swaps the `..data` symlink: same path, same size maybe,
    another inode."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text('{"a": 1}')
    new.write_text('{"a": 2}')
    os.utime(new, ns=(old.stat().st_atime_ns, old.stat().st_mtime_ns))  # same time, same size
    link = tmp_path / "baseline.json"
    link.symlink_to(old)
    before = stamp((link,))

    swap = tmp_path / "swap"
    swap.symlink_to(new)
    swap.replace(link)

    assert stamp((link,)) != before


def test_a_new_file_in_a_scripts_folder_changes_it_with_folders(tmp_path: Path) -> None:
    script = tmp_path / "a1.py"
    script.write_text("")
    os.utime(tmp_path, ns=(0, 0))  # the folder's time only moves by what comes next
    before = stamp((script,), folders=True)

    (tmp_path / "b2.py").write_text("")

    assert stamp((script,), folders=True) != before
    assert stamp((script,)) == stamp((script,))


def test_a_missing_file_stamps_and_its_appearing_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    missing = stamp((path,))
    assert missing == ((str(path), -1, -1, -1),)

    path.write_text("{}")
    assert stamp((path,)) != missing
