"""Issue 5: profiles, curator groups, calendar, reminder jobs, broadcasts and deliveries.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "student_profiles",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("faculty", sa.String(128), nullable=True),
        sa.Column("programme", sa.String(256), nullable=True),
        sa.Column("course_year", sa.Integer(), nullable=True),
        sa.Column("study_form", sa.String(16), nullable=True),
        sa.Column("remind_deadlines", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("remind_orientation", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("remind_announcements", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_student_profiles_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_student_profiles")),
    )
    op.create_table(
        "curator_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("curator_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("invite_code", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["curator_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_curator_groups_curator_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_curator_groups")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_curator_groups_invite_code")),
    )
    op.create_index(op.f("ix_curator_groups_curator_id"), "curator_groups", ["curator_id"])
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["curator_groups.id"],
            ondelete="CASCADE",
            name=op.f("fk_group_members_group_id_curator_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_group_members_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_user_id"), "group_members", ["user_id"])
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("title_kk", sa.String(256), nullable=False),
        sa.Column("title_ru", sa.String(256), nullable=False),
        sa.Column("title_en", sa.String(256), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("audience", sa.String(16), nullable=False, server_default="all"),
        sa.Column("audience_value", sa.String(128), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
    )
    op.create_index(op.f("ix_calendar_events_starts_on"), "calendar_events", ["starts_on"])
    op.create_table(
        "reminder_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["calendar_events.id"],
            ondelete="CASCADE",
            name=op.f("fk_reminder_jobs_event_id_calendar_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_jobs")),
        sa.UniqueConstraint("event_id", "stage", name=op.f("uq_reminder_jobs_event_id")),
    )
    op.create_index(op.f("ix_reminder_jobs_due_at"), "reminder_jobs", ["due_at"])
    op.create_index(op.f("ix_reminder_jobs_status"), "reminder_jobs", ["status"])
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="message"),
        sa.Column("sender_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("media_kind", sa.String(16), nullable=True),
        sa.Column("media_file_id", sa.String(256), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="scheduled"),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("reminder_job_id", sa.Integer(), nullable=True),
        sa.Column("progress_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("progress_message_id", sa.Integer(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            ondelete="SET NULL",
            name=op.f("fk_broadcasts_sender_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["reminder_job_id"],
            ["reminder_jobs.id"],
            ondelete="CASCADE",
            name=op.f("fk_broadcasts_reminder_job_id_reminder_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(op.f("ix_broadcasts_status"), "broadcasts", ["status"])
    op.create_table(
        "broadcast_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(256), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            ondelete="CASCADE",
            name=op.f("fk_broadcast_deliveries_broadcast_id_broadcasts"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            ondelete="CASCADE",
            name=op.f("fk_broadcast_deliveries_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_deliveries")),
        sa.UniqueConstraint(
            "broadcast_id", "user_id", name=op.f("uq_broadcast_deliveries_broadcast_id")
        ),
    )
    op.create_index(
        "ix_broadcast_deliveries_queue", "broadcast_deliveries", ["broadcast_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_broadcast_deliveries_queue", table_name="broadcast_deliveries")
    op.drop_table("broadcast_deliveries")
    op.drop_index(op.f("ix_broadcasts_status"), table_name="broadcasts")
    op.drop_table("broadcasts")
    op.drop_index(op.f("ix_reminder_jobs_status"), table_name="reminder_jobs")
    op.drop_index(op.f("ix_reminder_jobs_due_at"), table_name="reminder_jobs")
    op.drop_table("reminder_jobs")
    op.drop_index(op.f("ix_calendar_events_starts_on"), table_name="calendar_events")
    op.drop_table("calendar_events")
    op.drop_index(op.f("ix_group_members_user_id"), table_name="group_members")
    op.drop_table("group_members")
    op.drop_index(op.f("ix_curator_groups_curator_id"), table_name="curator_groups")
    op.drop_table("curator_groups")
    op.drop_table("student_profiles")
