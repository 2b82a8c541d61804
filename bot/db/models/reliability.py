"""Processed Telegram updates: the record that makes each update handled at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
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
