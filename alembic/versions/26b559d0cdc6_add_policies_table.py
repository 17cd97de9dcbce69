"""Add policies table

Revision ID: 26b559d0cdc6
Revises: e98b5f903643
Create Date: 2026-11-24 06:38:09.616445

"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders SQLModel's types as sqlmodel.sql.sqltypes.*
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "26b559d0cdc6"
down_revision: Union[str, Sequence[str], None] = "e98b5f903643"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("effect", sa.Enum("allow", "deny", name="policy_effect"), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("priority", sa.Integer(), server_default=sa.text("100"), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_policies_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_policies_workspace_id_name")),
        comment="Rules that allow or deny actions in a workspace, highest priority first.",
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("policies")
    # drop_table leaves PostgreSQL's enum type behind; plain DDL so that --sql works too
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS policy_effect")
