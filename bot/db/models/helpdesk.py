"""Helpdesk tickets: the student's conversation with a person, relayed through a staff chat."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TicketTopic(enum.StrEnum):
    APPLICATION = "application"
    SCHEDULE = "schedule"
    TECHNICAL = "technical"
    OTHER = "other"


class RelayMode(enum.StrEnum):
    TOPIC = "topic"  # one forum topic per ticket
    REPLY = "reply"  # chat without topics: staff reply to the bot's forwarded messages


class Direction(enum.StrEnum):
    FROM_STUDENT = "in"
    FROM_STAFF = "out"


class Ticket(Base):
    __tablename__ = "helpdesk_tickets"
    # Ticket numbers are shown to people: SQLite must not hand out an erased one again.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN.value, index=True)
    topic: Mapped[str] = mapped_column(String(32), default=TicketTopic.OTHER.value)
    language: Mapped[str] = mapped_column(String(8), default="kk")
    question_id: Mapped[int | None] = mapped_column(Integer)
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    relay_mode: Mapped[str] = mapped_column(String(16), default=RelayMode.TOPIC.value)
    thread_id: Mapped[int | None] = mapped_column(Integer, index=True)
    card_message_id: Mapped[int | None] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a student message arrives while none is waiting; cleared by a staff answer.
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_pinged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketMessage(Base):
    """One relayed message with its id on both sides, so replies and edits map across."""

    __tablename__ = "helpdesk_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))
    sender_id: Mapped[int] = mapped_column(BigInteger)
    student_message_id: Mapped[int] = mapped_column(Integer)
    staff_message_id: Mapped[int] = mapped_column(Integer, index=True)
    content_type: Mapped[str] = mapped_column(String(32), default="text")
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketAssignment(Base):
    __tablename__ = "helpdesk_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("helpdesk_tickets.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int] = mapped_column(BigInteger)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HelpdeskBan(Base):
    __tablename__ = "helpdesk_bans"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    banned_by: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffChat(Base):
    """What we learned about a staff chat: whether it has topics (createForumTopic worked)."""

    __tablename__ = "helpdesk_staff_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    topics: Mapped[bool] = mapped_column(Boolean, default=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
