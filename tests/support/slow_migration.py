"""The shop scenario with two more revisions that can be made to stop half-way, for tests of
a migration running beside driftwatch.

d4 adds a column to `orders` and e5 drops it again: at e5 the schema is the shop models'
again, so a database that ends the upgrade is in sync. With SLOW_MIGRATION_BLOCKS naming
one of them (PostgreSQL), that revision's upgrade, after its DDL, waits for an advisory lock
the test holds: `alembic upgrade` then stays in the middle of its transaction, visibly, until
the test lets go. Driftwatch's own replays never set the variable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from tests.support.scenarios import REPO_ROOT, SHOP, plain_url

ADVISORY_LOCK = 4_202_613
BLOCKS = "SLOW_MIGRATION_BLOCKS"

_REVISION = '''"""{message}

Revision ID: {revision}
Revises: {down}
"""

import os

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    {ddl}
    if os.environ.get("{blocks}") == revision:
        op.execute(sa.text("SELECT pg_advisory_lock({lock})"))


def downgrade() -> None:
    raise NotImplementedError
'''

_RUN = """
import sys, pathlib
from sqlalchemy.engine import make_url
from tests.support.scenarios import alembic_config, migrate
migrate(make_url(sys.argv[1]), "head", config=alembic_config(pathlib.Path(sys.argv[2])))
"""


def slow_project(root: Path) -> Path:
    """The shop's migrations plus d4 and e5 under `root` (an alembic_config scenario folder);
    returns the scripts folder (a target's script_location)."""
    scripts = root / "migrations"
    shutil.copytree(SHOP / "migrations", scripts)
    revisions = {
        "d4": (
            "c3",
            "add orders.slow_tmp",
            'op.add_column("orders", sa.Column("slow_tmp", sa.Integer))',
        ),
        "e5": ("d4", "drop orders.slow_tmp", 'op.drop_column("orders", "slow_tmp")'),
    }
    for revision, (down, message, ddl) in revisions.items():
        text = _REVISION.format(
            message=message,
            revision=revision,
            down=down,
            ddl=ddl,
            blocks=BLOCKS,
            lock=ADVISORY_LOCK,
        )
        (scripts / "versions" / f"{revision}_slow.py").write_text(text, encoding="utf-8")
    return scripts


def start_upgrade(url: URL, root: Path, *, blocks: str | None = None) -> subprocess.Popen[str]:
    """`alembic upgrade head` of the project under `root`, in a process of its own."""
    env = {k: v for k, v in os.environ.items() if k != BLOCKS}
    env["PYTHONPATH"] = str(REPO_ROOT)
    if blocks is not None:
        env[BLOCKS] = blocks
    return subprocess.Popen(
        [sys.executable, "-c", _RUN, plain_url(url), str(root)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def upgrade(url: URL, root: Path) -> None:
    """`alembic upgrade head` of the project under `root`, to the end (raises if it fails)."""
    process = start_upgrade(url, root)
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        raise AssertionError(f"alembic upgrade failed: {output}")
