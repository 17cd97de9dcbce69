"""One change test for every input read from disk: migration scripts, baseline files.

A stamp is what changes when a file is edited, replaced (a ConfigMap swaps a symlink, so the
inode moves) or, for a folder of scripts, when a file is added or removed (the folder's own
modification time). Cheap enough for every daemon tick: one stat per path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[tuple[str, int, int, int], ...]


def stamp(paths: Iterable[str | Path], *, folders: bool = False) -> Stamp:
    """The stat of each path (and, with `folders`, of each one's folder); a path that is
    not there stamps as (-1, -1, -1), so its appearing is a change too."""
    entries = {str(p) for p in paths}
    if folders:
        entries |= {str(Path(p).parent) for p in entries}
    found = []
    for entry in sorted(entries):
        try:
            stat = Path(entry).stat()
        except OSError:
            found.append((entry, -1, -1, -1))
            continue
        found.append((entry, stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return tuple(found)
