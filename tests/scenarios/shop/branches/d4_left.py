"""left branch: no schema change

Revision ID: d4left
Revises: c3
"""

revision = "d4left"
down_revision = "c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
