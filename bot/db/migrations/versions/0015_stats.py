"""Staff analytics (issue 13): wizard runs for the application funnel, the weekly digest's
subscriptions, the FAQ entry that answered a question, and indexes the aggregations read.

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wizard_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("wizard", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_wizard_runs_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wizard_runs")),
    )
    op.create_index("ix_wizard_runs_started_at", "wizard_runs", ["started_at"])
    op.create_index("ix_wizard_runs_user_open", "wizard_runs", ["user_id", "ended_at"])
    op.create_table(
        "stats_digests",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("last_week", sa.Date(), nullable=True),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_stats_digests")),
    )
    op.add_column("questions", sa.Column("top_clause", sa.String(16), nullable=True))
    op.add_column("questions", sa.Column("faq_key", sa.String(64), nullable=True))
    first = (
        "clauses->>0"
        if op.get_bind().dialect.name == "postgresql"
        else ("json_extract(clauses, '$[0]')")
    )
    op.execute(f"UPDATE questions SET top_clause = {first}")
    op.create_index(
        "ix_questions_stats",
        "questions",
        ["created_at", "language", "kind", "user_id", "feedback", "faq_key", "top_clause"],
    )


def downgrade() -> None:
    op.drop_index("ix_questions_stats", table_name="questions")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("faq_key")
        batch.drop_column("top_clause")
    op.drop_table("stats_digests")
    op.drop_index("ix_wizard_runs_user_open", table_name="wizard_runs")
    op.drop_index("ix_wizard_runs_started_at", table_name="wizard_runs")
    op.drop_table("wizard_runs")
