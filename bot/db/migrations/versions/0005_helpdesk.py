"""Helpdesk: tickets, relayed messages, assignments, bans, staff chat mode.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpdesk_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("staff_chat_id", sa.BigInteger(), nullable=False),
        sa.Column("relay_mode", sa.String(16), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("card_message_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("waiting_since", UTCDateTime(), nullable=True),
        sa.Column("sla_pinged_at", UTCDateTime(), nullable=True),
        sa.Column("first_response_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.BigInteger(), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_helpdesk_tickets_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_helpdesk_tickets_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpdesk_tickets")),
    )
    op.create_index(op.f("ix_helpdesk_tickets_user_id"), "helpdesk_tickets", ["user_id"])
    op.create_index(op.f("ix_helpdesk_tickets_status"), "helpdesk_tickets", ["status"])
    op.create_index(op.f("ix_helpdesk_tickets_thread_id"), "helpdesk_tickets", ["thread_id"])

    op.create_table(
        "helpdesk_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("student_message_id", sa.Integer(), nullable=False),
        sa.Column("staff_message_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("edited_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["helpdesk_tickets.id"],
            name=op.f("fk_helpdesk_messages_ticket_id_helpdesk_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpdesk_messages")),
    )
    op.create_index(op.f("ix_helpdesk_messages_ticket_id"), "helpdesk_messages", ["ticket_id"])
    op.create_index(
        op.f("ix_helpdesk_messages_staff_message_id"), "helpdesk_messages", ["staff_message_id"]
    )

    op.create_table(
        "helpdesk_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=False),
        sa.Column("assigned_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["helpdesk_tickets.id"],
            name=op.f("fk_helpdesk_assignments_ticket_id_helpdesk_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helpdesk_assignments")),
    )
    op.create_index(
        op.f("ix_helpdesk_assignments_ticket_id"), "helpdesk_assignments", ["ticket_id"]
    )

    op.create_table(
        "helpdesk_bans",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("banned_by", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_helpdesk_bans")),
    )

    op.create_table(
        "helpdesk_staff_chats",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("topics", sa.Boolean(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_helpdesk_staff_chats")),
    )


def downgrade() -> None:
    op.drop_table("helpdesk_staff_chats")
    op.drop_table("helpdesk_bans")
    op.drop_index(op.f("ix_helpdesk_assignments_ticket_id"), table_name="helpdesk_assignments")
    op.drop_table("helpdesk_assignments")
    op.drop_index(op.f("ix_helpdesk_messages_staff_message_id"), table_name="helpdesk_messages")
    op.drop_index(op.f("ix_helpdesk_messages_ticket_id"), table_name="helpdesk_messages")
    op.drop_table("helpdesk_messages")
    op.drop_index(op.f("ix_helpdesk_tickets_thread_id"), table_name="helpdesk_tickets")
    op.drop_index(op.f("ix_helpdesk_tickets_status"), table_name="helpdesk_tickets")
    op.drop_index(op.f("ix_helpdesk_tickets_user_id"), table_name="helpdesk_tickets")
    op.drop_table("helpdesk_tickets")
