"""Bounds on output made of database data (driftwatch.bounds): pure."""

from __future__ import annotations

from driftwatch.bounds import clip, first, label_value, listing


def test_clip_keeps_short_text_and_counts_what_it_cuts() -> None:
    """A short text is unchanged; a long one is cut and says how many characters are left out."""
    assert clip("short", 10) == "short"
    cut = clip("a" * 1000, 10)
    assert cut.startswith("a" * 10 + "… [990 more characters, sha256 ")
    assert len(cut) < 60


def test_clipped_texts_differing_after_the_cut_stay_different() -> None:
    """The digest of the whole keeps two long texts apart (baseline entries pin values)."""
    assert clip("a" * 1000 + "x", 10) != clip("a" * 1000 + "y", 10)
    assert clip("a" * 1000, 10) == clip("a" * 1000, 10)


def test_first_counts_the_rest() -> None:
    """The first N items and how many were left out."""
    assert first(list(range(5)), 3) == ((0, 1, 2), 2)
    assert first([1], 3) == ((1,), 0)


def test_listing_says_how_many_more() -> None:
    """A joined list stops at its limit and says how many more there are."""
    assert listing(["a", "b"], 5) == "a, b"
    assert listing([str(i) for i in range(100)], 3) == "0, 1, 2 and 97 more"


def test_label_value_stays_within_its_budget() -> None:
    """Revisions joined for a label stop before the budget and count the rest."""
    assert label_value(["a1", "b2"]) == "a1,b2"
    many = ["c3", *(f"r{i:06d}" + "x" * 200 for i in range(100_000))]
    assert label_value(many) == "c3,+100000 more"
    assert len(label_value([f"r{i:04d}" for i in range(10_000)])) <= 200 + len(",+10000 more")
    assert label_value(["z" * 300, "y"]).endswith("…,+1 more")
