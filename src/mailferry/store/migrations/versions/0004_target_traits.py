"""What read-backs learned of each target folder (store/tables.py: target_traits).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "target_traits",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("keeps_ordinary", sa.Boolean(), nullable=False),
        sa.Column("keeps_eight_bit", sa.Boolean(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["folder_id"], ["folders.id"]),
        sa.PrimaryKeyConstraint("folder_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("the state store is upgraded only")
