"""Reliability: processed update ids, so a redelivered update is skipped.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index(op.f("ix_processed_updates_claimed_at"), "processed_updates", ["claimed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_processed_updates_claimed_at"), table_name="processed_updates")
    op.drop_table("processed_updates")
