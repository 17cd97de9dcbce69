"""create orders

Revision ID: b2
Revises: a1
"""

import sqlalchemy as sa
from alembic import op

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("total", sa.Numeric(10, 2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="new"),
        sa.Column("note", sa.Text, nullable=True, comment="free text from the customer"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_orders_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint("total >= 0", name=op.f("ck_orders_total_not_negative")),
    )
    op.create_index("ix_orders_user_id_status", "orders", ["user_id", "status"])


def downgrade() -> None:
    # the index goes with the table: MySQL refuses to drop it alone while the foreign key
    # on user_id needs it
    op.drop_table("orders")
