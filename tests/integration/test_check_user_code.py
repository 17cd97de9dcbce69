"""The project's code inside check_target: a custom type of the models that exits during the
comparison fails the check; a real cancellation of the check still cancels it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from tests.support.scenarios import migrate, shop_target

# a column type whose dialect implementation is asked for while the schemas are compared
EXITING_TYPE = """
import asyncio
import sys

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from tests.scenarios.shop.models import metadata as shop


class Picky(TypeDecorator):
    impl = sa.String(255)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        {action}


metadata = sa.MetaData()
for table in shop.tables.values():
    table.to_metadata(metadata)
metadata.tables["users"].c.email.type = Picky()
"""


def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: str) -> str:
    (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:metadata"


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ("sys.exit(4)", "SystemExit: 4"),
        ("raise asyncio.CancelledError('not a cancellation')", "CancelledError"),
    ],
    ids=["sys_exit", "cancelled_error_raised_by_the_type"],
)
def test_a_custom_type_that_exits_while_compared_fails_the_check(
    sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str, says: str
) -> None:
    """SystemExit (or a CancelledError while nobody cancels) raised by a models' custom type
    during the comparison is the check's error, naming the project's file and line."""
    migrate(sqlite_url, "head")
    name = f"exiting_models_{says.split(':', maxsplit=1)[0].lower()}"
    metadata = models_module(tmp_path, monkeypatch, name, EXITING_TYPE.format(action=action))

    report = asyncio.run(check_target(shop_target(sqlite_url, metadata=(metadata,))))

    assert report.error is not None
    assert "the project's code failed" in report.error
    assert says in report.error
    assert f"{name}.py:" in report.error


SLOW_MODELS = """
import time

time.sleep(0.5)

from tests.scenarios.shop.models import metadata
"""


def test_cancelling_a_check_still_cancels_it(
    sqlite_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check cancelled while it imports the models (the daemon stopping) ends cancelled:
    containing the project's BaseExceptions does not swallow a real cancellation."""
    migrate(sqlite_url, "head")
    metadata = models_module(tmp_path, monkeypatch, "slow_models_for_cancel", SLOW_MODELS)
    target = shop_target(sqlite_url, metadata=(metadata,))

    async def cancel_while_importing() -> None:
        task = asyncio.create_task(check_target(target))
        await asyncio.sleep(0.1)
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_while_importing())
