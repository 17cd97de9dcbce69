"""Where the models come from: one MetaData, several merged, or one filled by `imports`."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.findings import FindingKind
from driftwatch.report import TargetReport
from tests.support.scenarios import execute, migrate, shop_target

PARTS = "tests.scenarios.shop.parts"


def _check(target: Target) -> TargetReport:
    return asyncio.run(check_target(target))


def _kinds(report: TargetReport) -> list[tuple[str, FindingKind]]:
    assert report.error is None, report.error
    assert report.schema is not None and report.schema.compared
    return [(f.table, f.kind) for f in report.schema.findings]


def test_several_metadata_are_merged(any_url: URL) -> None:
    """users and orders from two MetaData objects compare as one model (FK across them)."""
    migrate(any_url, "head")
    split = (f"{PARTS}.users:metadata", f"{PARTS}.orders:metadata")

    assert _kinds(_check(shop_target(any_url, metadata=split))) == []
    assert _kinds(_check(shop_target(any_url, metadata=split[:1]))) == [
        ("orders", FindingKind.EXTRA_TABLE)
    ]


def test_merged_metadata_still_find_drift(sqlite_url: URL) -> None:
    """A change to a table from the second MetaData is found after the merge."""
    migrate(sqlite_url, "head")
    execute(sqlite_url, "DROP INDEX ix_orders_user_id_status")
    split = (f"{PARTS}.users:metadata", f"{PARTS}.orders:metadata")

    assert _kinds(_check(shop_target(sqlite_url, metadata=split))) == [
        ("orders", FindingKind.MISSING_INDEX)
    ]


def test_the_same_table_in_two_metadata_is_an_error(sqlite_url: URL) -> None:
    """Merging two MetaData that both define users is refused, naming the table."""
    migrate(sqlite_url, "head")
    twice = (f"{PARTS}.users:metadata", "tests.scenarios.shop.models:metadata")

    report = _check(shop_target(sqlite_url, metadata=twice))

    assert report.error is not None and "table 'users' is defined twice" in report.error


def test_imports_run_before_the_metadata_is_read(sqlite_url: URL) -> None:
    """`imports` loads the modules that register tables on the configured MetaData."""
    migrate(sqlite_url, "head")
    registry = (f"{PARTS}.registry:metadata",)
    assert f"{PARTS}.plugin" not in sys.modules, "another test imported the plugin first"

    empty = _check(shop_target(sqlite_url, metadata=registry))
    filled = _check(shop_target(sqlite_url, metadata=registry, imports=(f"{PARTS}.plugin",)))

    assert _kinds(empty) == [
        ("orders", FindingKind.EXTRA_TABLE),
        ("users", FindingKind.EXTRA_TABLE),
    ]
    assert _kinds(filled) == []


def test_without_models_the_schema_is_not_compared(sqlite_url: URL) -> None:
    """No metadata configured: revision state only, the schema says why it was skipped."""
    migrate(sqlite_url, "a1")

    report = _check(shop_target(sqlite_url, metadata=()))

    assert report.error is None
    assert report.revision is not None and report.revision.kind.value == "behind"
    assert report.schema is not None and not report.schema.compared
    assert report.schema.skipped_reason == "no models configured (metadata)"
