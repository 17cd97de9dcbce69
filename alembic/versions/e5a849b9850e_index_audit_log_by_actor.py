"""Index audit log by actor

Revision ID: e5a849b9850e
Revises: 26b559d0cdc6
Create Date: 2026-11-24 06:38:13.414473

"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate renders SQLModel's types as sqlmodel.sql.sqltypes.*
from alembic import op


# revision identifiers, used by Alembic.
revision: str = "e5a849b9850e"
down_revision: Union[str, Sequence[str], None] = "26b559d0cdc6"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
