"""Issue 13: what staff analytics needs that no other table keeps.

* ``wizard_runs``: one row per /apply wizard run — when it started, the kind chosen, the step it
  is at (or was left at) and how it ended — so the funnel can say how many wizards were started
  and where most are abandoned. One row per run keeps "abandoned at step" a plain GROUP BY. No
  answer a student typed is kept here; ``user_id`` is set to NULL by /forget (the count stays).
* ``stats_digests``: the chats that asked for the weekly digest (``/stats weekly on``) and the
  Monday each last got one (the claim that makes one process, once, post it).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class RunOutcome:
    SUBMITTED = "submitted"  # the wizard ended with an application stored
    LEFT = "left"  # the wizard ended without one (cancelled, stopped, refused)


class WizardRun(Base):
    __tablename__ = "wizard_runs"
    __table_args__ = (
        Index("ix_wizard_runs_started_at", "started_at"),
        Index("ix_wizard_runs_user_open", "user_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    wizard: Mapped[str] = mapped_column(String(16), default="apply")
    kind: Mapped[str | None] = mapped_column(String(16))  # dl | online, once chosen
    step: Mapped[str] = mapped_column(String(32))  # the step being asked, or the last one
    outcome: Mapped[str | None] = mapped_column(String(16))  # None while running
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StatsDigest(Base):
    __tablename__ = "stats_digests"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8))
    # the Monday (local date) of the week whose digest was last posted
    last_week: Mapped[date | None] = mapped_column(Date)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)  # no FK: staff may /forget
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
