"""right branch: no schema change

Revision ID: d4right
Revises: c3
"""

revision = "d4right"
down_revision = "c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
