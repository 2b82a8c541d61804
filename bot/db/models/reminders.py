"""Issue 5: the academic calendar and its reminder jobs.

A reminder job moves ``pending -> sending -> sent`` (or ``failed``), claimed by one process at a
time, so restarts resume and nobody gets a reminder twice; a due job becomes a broadcast
(:mod:`bot.db.models.broadcasts`).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


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
