"""A migration running beside driftwatch is no drift: `migrating`, then the check after it
decides (PostgreSQL: the real `alembic upgrade`, `driftwatch check` and `driftwatch serve`,
each a process of its own)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import URL

from tests.support.daemon import Daemon, serve, write_config
from tests.support.scenarios import REPO_ROOT, SHOP_METADATA, migrate, plain_url, run_driftwatch
from tests.support.slow_migration import ADVISORY_LOCK, slow_project, start_upgrade

pytestmark = pytest.mark.postgres

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}


def _dsn(url: URL) -> str:
    return plain_url(url.set(drivername="postgresql"))


async def _wait_until_blocked(watcher: asyncpg.Connection, upgrade: subprocess.Popen[str]) -> None:
    """Return once the upgrade waits for the test's advisory lock, in the middle of its
    transaction (its DDL done); fail if it ends first."""
    for _ in range(1200):
        if upgrade.poll() is not None:
            raise AssertionError(f"the upgrade ended instead of waiting: {upgrade.stdout}")
        waiting = await watcher.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = $1 AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())",
            ADVISORY_LOCK,
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the upgrade never reached the advisory lock")


def _check(url: URL, scripts: Path) -> tuple[int, dict[str, Any], str]:
    """`driftwatch check --format json` of the slow project: exit code, the target's JSON,
    stderr."""
    done = run_driftwatch(
        "check", "--url", plain_url(url), "--script-location", str(scripts),
        "--metadata", SHOP_METADATA, "--scratch-url", plain_url(url), "--format", "json",
        cwd=REPO_ROOT,
    )  # fmt: skip
    (target,) = json.loads(done.stdout)["targets"]
    return done.returncode, target, done.stderr


def _state(daemon: Daemon, state: str) -> bool:
    return daemon.value("driftwatch_revision_state", target="shop", state=state) == 1


@pytest.mark.parametrize(
    "blocks",
    [
        # the first migration of the upgrade, after its ALTER TABLE: the version row is not
        # written yet, the transaction has read the version table and holds a DDL lock
        "d4",
        # the second: d4's version row is written (and locked) in the open transaction
        "e5",
    ],
)
def test_a_running_migration_is_migrating_then_the_next_check_decides(
    pg_url: URL, tmp_path: Path, blocks: str
) -> None:
    """While `alembic upgrade` stands still in its transaction, `driftwatch check` says
    migrating (exit 1, schema not compared, no drift) and the daemon's revision state is
    `migrating` with the last comparison's schema metrics kept; the check never blocks the
    migration, which completes once let go, and the checks after it say at head, in sync."""
    migrate(pg_url, "head")  # c3: the slow project's d4 and e5 pending
    root = tmp_path / "project"
    scripts = slow_project(root)
    shop = {
        "name": "shop",
        "url": plain_url(pg_url),
        "script_location": str(scripts),
        "metadata": SHOP_METADATA,
        "scratch_url": plain_url(pg_url),
    }
    config = write_config(tmp_path / "dw.toml", FAST, [shop])

    async def scenario() -> None:
        holder = await asyncpg.connect(_dsn(pg_url))
        watcher = await asyncpg.connect(_dsn(pg_url))
        upgrade: subprocess.Popen[str] | None = None
        try:
            await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK)
            env = {"PYTHONPATH": str(REPO_ROOT)}
            with serve(config, tmp_path, env=env) as daemon:
                daemon.wait_for("a first check", lambda: _state(daemon, "behind"), timeout=120)
                assert daemon.value("driftwatch_schema_in_sync", target="shop") == 1
                upgrade = start_upgrade(pg_url, root, blocks=blocks)
                await _wait_until_blocked(watcher, upgrade)
                checks = daemon.value("driftwatch_checks_total", target="shop") or 0
                daemon.wait_for(
                    "a tick after the upgrade stopped",
                    lambda: (
                        (daemon.value("driftwatch_checks_total", target="shop") or 0) >= checks + 2
                    ),
                    timeout=120,
                )
                assert _state(daemon, "migrating"), daemon.log()[-3000:]
                assert daemon.value("driftwatch_revision_at_head", target="shop") == 0
                # the last comparison stands: a migration neither raises nor clears drift
                assert daemon.value("driftwatch_schema_in_sync", target="shop") == 1
                status, body = daemon.get("/report")
                assert status == 200
                (seen,) = json.loads(body)["targets"]
                assert seen["revision"]["state"] == "migrating"
                assert "a migration is running" in " ".join(seen["schema"]["notes"])

                code, checked, stderr = _check(pg_url, scripts)
                assert code == 1, (checked, stderr)
                assert checked["status"] == "out_of_sync"
                assert checked["revision"]["state"] == "migrating"
                assert checked["revision"]["in_sync"] is False
                assert checked["schema"]["compared"] is False
                assert "a migration is running" in checked["schema"]["skipped_reason"]
                assert checked["schema"]["findings"] == []
                assert upgrade.poll() is None  # still waiting: nothing of it was decided

                await holder.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK)
                output, _ = upgrade.communicate(timeout=120)
                assert upgrade.returncode == 0, output
                daemon.wait_for("at head", lambda: _state(daemon, "at_head"), timeout=120)
                assert daemon.value("driftwatch_schema_in_sync", target="shop") == 1
                assert daemon.series("driftwatch_revision_info", target="shop") == {
                    (("database_revision", "e5"), ("head_revision", "e5"), ("target", "shop")): 1
                }
                events = [
                    json.loads(line).get("event") for line in daemon.log().splitlines() if line
                ]
                assert daemon.terminate() == 0
            moves = [e for e in events if e in ("behind", "migrating", "in_sync")]
            # the migration may be seen at more than one point (its version row written: the
            # pending count moves), each a `migrating` line; never drift, and in sync after
            collapsed = [m for i, m in enumerate(moves) if i == 0 or moves[i - 1] != m]
            assert collapsed[:3] == ["behind", "migrating", "in_sync"], events
            assert not {"drift_appeared", "drift_gone"} & set(events), events

            code, checked, stderr = _check(pg_url, scripts)
            assert code == 0, (checked, stderr)
            assert checked["revision"]["state"] == "at_head"
            assert checked["schema"]["compared"] is True
            assert checked["schema"]["findings"] == []
        finally:
            if upgrade is not None and upgrade.poll() is None:
                upgrade.kill()
                upgrade.wait(timeout=10)
            await holder.close()
            await watcher.close()

    asyncio.run(scenario())
