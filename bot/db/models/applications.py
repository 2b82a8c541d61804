"""Applications for distance learning (ҚО) and the online form (ООН), history and consents."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, UTCDateTime, utcnow


class ApplicationKind(enum.StrEnum):
    DISTANCE = "dl"
    ONLINE = "online"

    @property
    def prefix(self) -> str:
        return "DL" if self is ApplicationKind.DISTANCE else "OL"


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def under_review(self) -> bool:
        return self in (ApplicationStatus.SUBMITTED, ApplicationStatus.NEEDS_INFO)


class Application(Base):
    __tablename__ = "applications"
    # The reference (DL-2026-00042) is the id: SQLite must not hand out an erased one again.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # NULL once the applicant used /forget while the office still reviews it (anonymised).
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(
        String(16), default=ApplicationStatus.SUBMITTED.value, index=True
    )
    language: Mapped[str] = mapped_column(String(8))
    ground: Mapped[str | None] = mapped_column(String(32))
    applicant_role: Mapped[str | None] = mapped_column(String(16))
    applicant_name: Mapped[str | None] = mapped_column(String(128))
    full_name: Mapped[str | None] = mapped_column(String(128))
    identifier_kind: Mapped[str | None] = mapped_column(String(16))
    identifier: Mapped[str | None] = mapped_column(String(16))
    programme_code: Mapped[str | None] = mapped_column(String(16))
    course: Mapped[int | None] = mapped_column(SmallInteger)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    document_kind: Mapped[str | None] = mapped_column(String(16))  # photo, document, in_person
    document_file_id: Mapped[str | None] = mapped_column(String(256))
    document_name: Mapped[str | None] = mapped_column(String(256))
    # The eligibility trace shown before submission: [{"clause": "5.4.7", "rule": "...", ...}]
    trace: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationEvent.id",
        lazy="selectin",
    )
    consents: Mapped[list[ApplicationConsent]] = relationship(
        back_populates="application",
        cascade="all, delete-orphan",
        order_by="ApplicationConsent.id",
        lazy="selectin",
    )

    @property
    def kind_enum(self) -> ApplicationKind:
        return ApplicationKind(self.kind)

    @property
    def status_enum(self) -> ApplicationStatus:
        return ApplicationStatus(self.status)


class ApplicationEvent(Base):
    """Every status change (and every comment), oldest first: the history the applicant sees."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # no FK: staff may /forget too
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[Application] = relationship(back_populates="events")


class ApplicationConsent(Base):
    """An explicit acceptance (6.7): which text, which version, when."""

    __tablename__ = "application_consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    consent: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    application: Mapped[Application] = relationship(back_populates="consents")
