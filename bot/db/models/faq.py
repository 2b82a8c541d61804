"""Issue 12: staff-made FAQ entries, the offices overlay, taught clause examples, the queue of
unanswered questions grouped for staff, and the follow-up notifications to the askers.

``faq_versions`` holds one counter per kind of data ("faq"); every change bumps it in the same
transaction, and every process compares it with the version it loaded before consulting the
FAQ, so an entry published in one process is live in all of them at once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class GroupStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"  # became an FAQ entry (faq_key)
    CLAUSE = "clause"  # answered by a clause of the regulation (clause_id)
    DISMISSED = "dismissed"  # "not for us"


class QueueReason(enum.StrEnum):
    UNSURE = "unsure"
    OUT_OF_SCOPE = "out_of_scope"
    OFFICE = "office"  # routed to an office, no answer of our own
    DISLIKED = "disliked"  # 👎 on any answer


class FaqVersion(Base):
    __tablename__ = "faq_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaqEntryRow(Base):
    """A staff-made or imported entry; ``data`` has the shape of a knowledge/faq/*.yaml entry.
    An entry whose key is also in the YAML files replaces that entry."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    origin: Mapped[str] = mapped_column(String(16), default="staff")
    status: Mapped[str] = mapped_column(String(16), default="live")  # live | retired
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # no FK: staff may /forget
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OfficeOverride(Base):
    """Admins' edits of one office (flat keys: ``contacts.phone``, ``name.kk``, ``keywords``)."""

    __tablename__ = "office_overrides"

    office_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class UnansweredGroup(Base):
    """One underlying question: the queue items staff answer together."""

    __tablename__ = "unanswered_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(16), default=GroupStatus.OPEN.value, index=True)
    title: Mapped[str] = mapped_column(Text)  # the first question, as asked
    faq_key: Mapped[str | None] = mapped_column(String(64))
    clause_id: Mapped[str | None] = mapped_column(String(16))
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UnansweredItem(Base):
    """A question the bot could not answer well (or that got 👎), waiting in the queue."""

    __tablename__ = "unanswered_items"
    __table_args__ = (Index("ix_unanswered_items_group_created", "group_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("unanswered_groups.id", ondelete="CASCADE")
    )
    question_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("questions.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ClauseExampleRow(Base):
    """ "Answered by clause X": a question → clause pair the matcher (and later the clause
    search's example bank) learns from."""

    __tablename__ = "clause_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    clause_id: Mapped[str] = mapped_column(String(16), index=True)
    group_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("unanswered_groups.id", ondelete="SET NULL")
    )
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaqNotification(Base):
    """The follow-up to one asker of one group: at most one per (group, user)."""

    __tablename__ = "faq_notifications"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        Index("ix_faq_notifications_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("unanswered_groups.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    # pending -> queued (a broadcast delivery exists) | skipped (announcements off, inactive)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    broadcast_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("broadcasts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
