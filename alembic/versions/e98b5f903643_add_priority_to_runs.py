"""Add priority to runs

Revision ID: e98b5f903643
Revises: 6fdf2ee395a7
Create Date: 2026-11-24 06:37:57.618960

"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders SQLModel's types as sqlmodel.sql.sqltypes.*
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "e98b5f903643"
down_revision: Union[str, Sequence[str], None] = "6fdf2ee395a7"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # the server default fills the existing rows, so the column can be NOT NULL at once
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(
            sa.Column(
                "priority",
                sa.Integer(),
                server_default=sa.text("0"),
                nullable=False,
                comment="Higher values are scheduled first.",
            )
        )


def downgrade() -> None:
    """Downgrade schema."""
    # batch mode: SQLite recreates the table to drop a column
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("priority")
