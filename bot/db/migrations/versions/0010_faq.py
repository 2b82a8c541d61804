"""FAQ (issue 12): staff-made entries, the offices overlay, taught clause examples, the queue of
unanswered questions and its groups, follow-up notifications, and the version counter that
makes a new entry live in every process.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "faq_versions",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_faq_versions")),
    )
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_faq_entries_key")),
    )
    op.create_table(
        "office_overrides",
        sa.Column("office_id", sa.String(32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("office_id", name=op.f("pk_office_overrides")),
    )
    op.create_table(
        "unanswered_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("faq_key", sa.String(64), nullable=True),
        sa.Column("clause_id", sa.String(16), nullable=True),
        sa.Column("resolved_by", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_groups")),
    )
    op.create_index(op.f("ix_unanswered_groups_status"), "unanswered_groups", ["status"])
    op.create_table(
        "unanswered_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["unanswered_groups.id"],
            name=op.f("fk_unanswered_items_group_id_unanswered_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_unanswered_items_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_unanswered_items_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_items")),
        sa.UniqueConstraint("question_id", name=op.f("uq_unanswered_items_question_id")),
    )
    op.create_index(op.f("ix_unanswered_items_user_id"), "unanswered_items", ["user_id"])
    op.create_index(op.f("ix_unanswered_items_created_at"), "unanswered_items", ["created_at"])
    op.create_index(
        "ix_unanswered_items_group_created", "unanswered_items", ["group_id", "created_at"]
    )
    op.create_table(
        "clause_examples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("clause_id", sa.String(16), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["unanswered_groups.id"],
            name=op.f("fk_clause_examples_group_id_unanswered_groups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clause_examples")),
    )
    op.create_index(op.f("ix_clause_examples_clause_id"), "clause_examples", ["clause_id"])
    op.create_table(
        "faq_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("queued_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["unanswered_groups.id"],
            name=op.f("fk_faq_notifications_group_id_unanswered_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_faq_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_faq_notifications_broadcast_id_broadcasts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_notifications")),
        sa.UniqueConstraint("group_id", "user_id", name=op.f("uq_faq_notifications_group_id")),
    )
    op.create_index("ix_faq_notifications_status", "faq_notifications", ["status"])


def downgrade() -> None:
    op.drop_index("ix_faq_notifications_status", table_name="faq_notifications")
    op.drop_table("faq_notifications")
    op.drop_index(op.f("ix_clause_examples_clause_id"), table_name="clause_examples")
    op.drop_table("clause_examples")
    op.drop_index("ix_unanswered_items_group_created", table_name="unanswered_items")
    op.drop_index(op.f("ix_unanswered_items_created_at"), table_name="unanswered_items")
    op.drop_index(op.f("ix_unanswered_items_user_id"), table_name="unanswered_items")
    op.drop_table("unanswered_items")
    op.drop_index(op.f("ix_unanswered_groups_status"), table_name="unanswered_groups")
    op.drop_table("unanswered_groups")
    op.drop_table("office_overrides")
    op.drop_table("faq_entries")
    op.drop_table("faq_versions")
