"""The web chat (issue 14): ``users.channel``, the web chats' history, its files and the
counter its message ids come from.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(8), nullable=False, server_default="telegram")
        )
    op.create_table(
        "web_messages",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(8), nullable=False),
        sa.Column("ref", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("markup", sa.JSON(), nullable=True),
        sa.Column("file_token", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_web_messages")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_web_messages_user_id"), "web_messages", ["user_id"])
    op.create_index(op.f("ix_web_messages_created_at"), "web_messages", ["created_at"])
    op.create_index(op.f("ix_web_messages_message_id"), "web_messages", ["message_id"])
    op.create_table(
        "web_counters",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_web_counters")),
    )
    op.create_table(
        "web_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime_type", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_files_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_files")),
        sa.UniqueConstraint("token", name=op.f("uq_web_files_token")),
    )
    op.create_index(op.f("ix_web_files_user_id"), "web_files", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_files_user_id"), table_name="web_files")
    op.drop_table("web_files")
    op.drop_table("web_counters")
    op.drop_index(op.f("ix_web_messages_message_id"), table_name="web_messages")
    op.drop_index(op.f("ix_web_messages_created_at"), table_name="web_messages")
    op.drop_index(op.f("ix_web_messages_user_id"), table_name="web_messages")
    op.drop_table("web_messages")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("channel")
