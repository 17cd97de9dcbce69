"""Bounds on what a database's contents may put into driftwatch's output. Pure.

A monitored database is data driftwatch does not control: a version table of 100,000 rows,
a comment of a megabyte or thousands of extra tables must not become a megabyte metric
label, log line, report or notification. Everything shown from such data is cut here, and
says how much it left out; counts (of findings by kind, of pending revisions) stay whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

TEXT_CHARS = 500  # one text of database origin: a finding's field, a server's error message
LABEL_CHARS = 200  # one metric label value, or one log field, made of database data
LISTED = 20  # revisions listed in a report or a message
ITEM_CHARS = 100  # one item of such a list (a revision id may have 255 characters)
FINDINGS_LISTED = 500  # findings (and accepted ones) listed per target in a report


def clip(text: str, limit: int = TEXT_CHARS) -> str:
    """`text` cut to `limit` characters, saying how many were left out.

    The note carries a digest of the whole text, so two long texts that differ after the
    cut stay different: a baseline entry pinned to a clipped value matches only that value.
    """
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[:limit]}… [{len(text) - limit} more characters, sha256 {digest}]"


def clip_optional(text: str | None, limit: int = TEXT_CHARS) -> str | None:
    return None if text is None else clip(text, limit)


def first(items: Sequence[T], limit: int = LISTED) -> tuple[tuple[T, ...], int]:
    """The first `limit` items, and how many were left out."""
    return tuple(items[:limit]), max(0, len(items) - limit)


def listing(items: Sequence[str], limit: int = LISTED, separator: str = ", ") -> str:
    """Items joined, at most `limit` of them (each clipped), then "and K more"."""
    shown, omitted = first(items, limit)
    text = separator.join(clip(item, ITEM_CHARS) for item in shown)
    return f"{text} and {omitted} more" if omitted else text


def label_value(items: Sequence[str], limit: int = LABEL_CHARS) -> str:
    """Items joined by commas within `limit` characters, then "+K more" for the rest.

    The same value wherever it appears (metric label, log field), so one can be found from
    the other.
    """
    joined = ",".join(items)
    if len(joined) <= limit:
        return joined
    shown: list[str] = []
    used = 0
    for item in items:
        cost = len(item) + (1 if shown else 0)
        if used + cost > limit:
            break
        shown.append(item)
        used += cost
    if not shown:  # the first item alone is longer than the whole budget
        shown = [items[0][: limit - 1] + "…"]
    return ",".join([*shown, f"+{len(items) - len(shown)} more"])
