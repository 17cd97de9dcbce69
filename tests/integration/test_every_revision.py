"""Every revision's state, as `snapshot build` replays them: one replay per chain of
revisions, a fresh one where the history branches."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import URL

from driftwatch.expected.every_revision import chains, replay_every_revision
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.sources import load_expected
from driftwatch.expected.states import replay_plan
from tests.support.scenarios import SHOP_BRANCHES, SHOP_VERSIONS, shop_target


def test_a_branched_history_is_replayed_chain_by_chain(sqlite_url: URL, tmp_path: Path) -> None:
    """The shop with d4left and d4right on c3: the chains are a1..d4left, then d4right alone;
    each revision gets its state (b2 has orders, a1 not), and the heads one of their own."""
    target = shop_target(sqlite_url, version_locations=(str(SHOP_VERSIONS), str(SHOP_BRANCHES)))
    expected = load_expected(target)
    plan = replay_plan(target, expected)
    assert plan is not None

    built = asyncio.run(
        replay_every_revision(ScratchServers(cache_dir=tmp_path), plan, expected.scripts)
    )

    assert built.order[:3] == ("a1", "b2", "c3")
    assert list(chains(built.order, expected.scripts, frozenset())) == [
        ["a1", "b2", "c3", built.order[3]],
        [built.order[4]],
    ]
    assert set(built.at) == {"a1", "b2", "c3", "d4left", "d4right"}
    assert {t.name for t in built.at["a1"].tables} == {"users"}
    assert {t.name for t in built.at["b2"].tables} == {"users", "orders"}
    assert built.base is not None and built.base.tables == ()
    assert built.heads.tables == built.at["d4right"].tables == built.at["c3"].tables


def test_a_stamped_replay_starts_at_its_stamp(sqlite_url: URL, tmp_path: Path) -> None:
    """With a bootstrap that builds a1's tables and a1 stamped: a1's state is the
    bootstrap's, the rest replays on top, and there is no base state."""
    target = shop_target(
        sqlite_url,
        replay_bootstrap="tests.integration.test_attribution:create_a1",
        replay_stamp="a1",
    )
    expected = load_expected(target)
    plan = replay_plan(target, expected)
    assert plan is not None

    built = asyncio.run(
        replay_every_revision(ScratchServers(cache_dir=tmp_path), plan, expected.scripts)
    )

    assert built.base is None
    assert {t.name for t in built.at["a1"].tables} == {"users"}
    assert {t.name for t in built.at["b2"].tables} == {"users", "orders"}
    assert built.heads == built.at["c3"]
