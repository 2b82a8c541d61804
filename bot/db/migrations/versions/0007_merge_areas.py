"""Merge the area branches (knowledge, applications, reminders, helpdesk, reliability).

Each area's first migration branched from 0001 so they could be written side by side; this
revision joins them into one head, so later migrations have a single parent again.

Revision ID: 0007
Revises: 0002, 0003, 0004, 0005, 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
