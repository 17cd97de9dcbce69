"""spans with a generated column; flow_runs with volatile defaults (PostgreSQL)

Revision ID: t1
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "t1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trace_id", sa.String(50), nullable=False),
        sa.Column("start_time_unix_nano", sa.BigInteger, nullable=False),
        sa.Column("end_time_unix_nano", sa.BigInteger, nullable=True),
        sa.Column(
            "duration_ns",
            sa.BigInteger,
            sa.Computed("end_time_unix_nano - start_time_unix_nano", persisted=True),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_spans"),
    )
    op.create_index("ix_spans_trace_id", "spans", ["trace_id"])
    if op.get_bind().dialect.name == "postgresql":
        # written as prefect's migrations write it: the text the function element compiles to
        op.create_table(
            "flow_runs",
            sa.Column("id", sa.Uuid, server_default=sa.text("(GEN_RANDOM_UUID())")),
            sa.Column(
                "token", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")
            ),
            sa.Column(
                "created",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.text("timezone('utc', now())"),
            ),
            sa.PrimaryKeyConstraint("id", name="pk_flow_runs"),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("flow_runs")
    op.drop_index("ix_spans_trace_id", table_name="spans")
    op.drop_table("spans")
