"""One sender per broadcast: the process holding its lease sends it and edits its progress.

Two processes used to send the same broadcast side by side, each editing the sender's progress
message from its own view, so the counts shown went backwards. ``broadcasts.sender_owner`` is
the process that sends it, ``broadcasts.sender_lease_until`` how long that claim lasts without
renewal; another process takes over only after it expires (the owner died).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("broadcasts", sa.Column("sender_owner", sa.String(64), nullable=True))
    op.add_column("broadcasts", sa.Column("sender_lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("sender_lease_until")
        batch.drop_column("sender_owner")
