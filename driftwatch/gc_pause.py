"""The garbage collector paused while a big snapshot is built or read.

Building a 5000-table snapshot makes some 100,000 objects that all live on; with the models'
own SQLAlchemy objects in memory, each of the collector's passes over them finds nothing to
free and costs a third or more of the building time. Only cycles wait for the pause to end:
reference counting still frees everything else at once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic collection inside; the collector as it was after.

    Only the one that paused it turns it back on: when threads overlap, an inner pause
    leaves it to the outer one, and a collector someone else turned off stays off.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
