"""What `mailferry inventory` counted per source mailbox (store/inventory.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a state file that an earlier build of `inventory` touched may hold the table already
    if sa.inspect(op.get_bind()).has_table("project_inventory"):
        return
    op.create_table(
        "project_inventory",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("taken_at", sa.Float(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("folders", sa.Integer(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source_user"),
    )


def downgrade() -> None:
    raise NotImplementedError("the state store is upgraded only")
