"""Issue 5: students' profiles (what they set in /profile, which reminders they want) and
curators' groups with their members."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class StudyForm(enum.StrEnum):
    FULL_TIME = "full_time"
    ONLINE = "online"  # ООН, section 6
    DISTANCE = "distance"  # ҚО, section 5


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
