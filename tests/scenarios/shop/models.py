"""The shop scenario's models: the state at revision c3 (head of the main line)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("name", sa.String(100), nullable=True),
    sa.Column("role", sa.Enum("customer", "staff", name="user_role"), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("email"),
    sa.Index(None, "name"),
    comment="people who order",
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="new"),
    sa.Column("note", sa.Text, nullable=True, comment="free text from the customer"),
    sa.Index(None, "user_id", "status"),
    sa.CheckConstraint("total >= 0", name="total_not_negative"),
)
