"""The real daemon on a target with `expected_dir`: a new build published into the folder
is used at the next tick, without a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.daemon import Daemon, serve, write_config
from tests.support.projects import Project, make_project
from tests.support.scenarios import alembic_config, migrate, run_driftwatch

FAST = {"interval_seconds": 0.5, "jitter_seconds": 0, "log_format": "json"}

D4 = '''"""create refunds

Revision ID: d4
Revises: c3
"""
import sqlalchemy as sa
from alembic import op

revision = "d4"
down_revision = "c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refunds")
'''

REFUNDS_MODEL = """
refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("amount", sa.Integer, nullable=False),
)
"""


def build(project: Project, out: Path) -> None:
    flags = ["--url", project.dsn, "--script-location", str(project.scripts)]
    flags += ["--metadata", project.metadata, "--out-dir", str(out)]
    built = run_driftwatch("snapshot", "build", *flags, cwd=project.root)
    assert built.returncode == 0, built.stderr


def shop_report(daemon: Daemon) -> dict[str, Any] | None:
    status, body = daemon.get("/report")
    if status != 200:
        return None
    (target,) = json.loads(body)["targets"]
    return target if target.get("revision") else None


def follows(
    daemon: Daemon, state: str, pending: list[str], findings: list[tuple[str, str]]
) -> bool:
    target = shop_report(daemon)
    if target is None or target["revision"]["state"] != state:
        return False
    seen = [(f["attribution"], f["table"]) for f in target["schema"]["findings"]]
    return [p["revision"] for p in target["revision"]["pending"]] == pending and seen == findings


def test_a_new_build_is_used_at_the_next_tick(tmp_path: Path) -> None:
    """Serving from a folder built at c3: at head. A build with d4 published into the same
    folder: behind, d4's table pending. The database upgraded to d4: at head again."""
    project = make_project(tmp_path / "app")  # its database is at c3, the head
    out = tmp_path / "expected"
    build(project, out)
    config = write_config(
        tmp_path / "dw.toml", FAST, [{"name": "shop", "url": project.dsn, "expected_dir": str(out)}]
    )
    with serve(config, tmp_path) as daemon:
        daemon.wait_for("at head", lambda: follows(daemon, "at_head", [], []))
        first = shop_report(daemon)
        assert first is not None
        assert first["schema"]["notes"][0].startswith(f"expected states prebuilt in {out} ")

        (project.scripts / "versions" / "d4_refunds.py").write_text(D4)
        models = project.root / "shop_models.py"
        models.write_text(models.read_text() + REFUNDS_MODEL)
        build(project, out)
        daemon.wait_for(
            "d4 pending", lambda: follows(daemon, "behind", ["d4"], [("pending", "refunds")])
        )

        config_d4 = alembic_config()
        config_d4.set_main_option("script_location", str(project.scripts))
        migrate(project.url, "head", config=config_d4)
        daemon.wait_for("at head again", lambda: follows(daemon, "at_head", [], []))
        now = shop_report(daemon)
        assert now is not None and now["revision"]["script_heads"] == ["d4"]
        assert daemon.terminate() == 0
