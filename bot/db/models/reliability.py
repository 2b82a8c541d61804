"""Processed Telegram updates: the record that makes each update handled at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class ProcessedUpdate(Base):
    """One row per update a process has claimed; the primary key makes the claim atomic.

    ``bot_id`` is part of the key because update ids are counted per bot. Rows older than the
    retention window are pruned: Telegram does not redeliver updates older than a day.
    """

    __tablename__ = "processed_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboxUpdate(Base):
    """An update as Telegram sent it, stored before it is confirmed (issue 17).

    Polling writes a fetched batch here (committed) before the next ``getUpdates`` moves the
    offset; the webhook writes it before answering 200. Workers of any process take rows with
    a lease (``lease_until``), so the rows of a process that died are taken again when their
    lease runs out. ``status``: ``pending`` → ``done`` (handled, or failed and not retried) —
    or ``poison`` (it could not be parsed; kept for inspection). Handled rows are pruned after
    the retention window.
    """

    __tablename__ = "update_inbox"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_update_inbox_queue", "status", "update_id"),)


class UpdateCall(Base):
    """A Bot API call made while handling an update, by its place in the handling (``seq``).

    When the update is handled again (its process died, or was stopped mid-update), the calls
    already made are answered from here instead of being sent again.
    """

    __tablename__ = "update_calls"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    method: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
