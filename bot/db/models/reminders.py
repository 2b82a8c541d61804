"""Issue 5: student profiles, curator groups, the academic calendar, reminder jobs, broadcasts.

Reminder jobs and broadcast deliveries are the durable queue: a job or a delivery row moves
``pending -> sending -> sent`` (or ``failed`` / ``blocked`` / ``unknown``), claimed by one process
at a time, so restarts resume and nobody gets a message twice.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class StudyForm(enum.StrEnum):
    FULL_TIME = "full_time"
    ONLINE = "online"  # ООН, section 6
    DISTANCE = "distance"  # ҚО, section 5


class EventKind(enum.StrEnum):
    PERIOD = "period"
    ORIENTATION = "orientation"
    APPLICATION_DEADLINE = "application_deadline"
    EXAM_DEADLINE = "exam_deadline"


class Audience(enum.StrEnum):
    ALL = "all"
    ONLINE = "online"
    DISTANCE = "distance"
    FACULTY = "faculty"
    COURSE = "course"
    GROUP = "group"


class StudentProfile(Base):
    """What a student set in /profile and which reminders they want."""

    __tablename__ = "student_profiles"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    faculty: Mapped[str | None] = mapped_column(String(128))
    programme: Mapped[str | None] = mapped_column(String(256))
    course_year: Mapped[int | None] = mapped_column(Integer)
    study_form: Mapped[str | None] = mapped_column(String(16))
    remind_deadlines: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_orientation: Mapped[bool] = mapped_column(Boolean, default=True)
    remind_announcements: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CuratorGroup(Base):
    __tablename__ = "curator_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    curator_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    invite_code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("curator_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarEvent(Base):
    """A period, orientation week or deadline; ``ends_on`` is None for a single day."""

    __tablename__ = "calendar_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    title_kk: Mapped[str] = mapped_column(String(256))
    title_ru: Mapped[str] = mapped_column(String(256))
    title_en: Mapped[str] = mapped_column(String(256))
    starts_on: Mapped[date] = mapped_column(Date, index=True)
    ends_on: Mapped[date | None] = mapped_column(Date)
    audience: Mapped[str] = mapped_column(String(16), default=Audience.ALL.value)
    audience_value: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def title(self, lang: str) -> str:
        return str(getattr(self, f"title_{lang}", None) or self.title_en)


class ReminderJob(Base):
    """One reminder of one event at one stage; fanned out to deliveries once, when due."""

    __tablename__ = "reminder_jobs"
    __table_args__ = (UniqueConstraint("event_id", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("calendar_events.id", ondelete="CASCADE")
    )
    stage: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Broadcast(Base):
    """A curator's or staff message, or a due reminder, to many recipients."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="message")
    sender_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text, default="")
    media_kind: Mapped[str | None] = mapped_column(String(16))
    media_file_id: Mapped[str | None] = mapped_column(String(256))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_job_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("reminder_jobs.id", ondelete="CASCADE")
    )
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(Integer)
    # The process sending it (one at a time) and until when that holds without renewal.
    sender_owner: Mapped[str | None] = mapped_column(String(64))
    sender_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BroadcastDelivery(Base):
    """One recipient of one broadcast: the record of who already got it."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "user_id"),
        Index("ix_broadcast_deliveries_queue", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("broadcasts.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(256))
