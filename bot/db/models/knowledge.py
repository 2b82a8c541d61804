"""The question log: every free-text question, what the assistant answered, and the feedback."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow


class Question(Base):
    __tablename__ = "questions"
    # issue 13: every /stats aggregation over questions reads this index only (no table rows)
    __table_args__ = (
        Index(
            "ix_questions_stats",
            "created_at",
            "language",
            "kind",
            "user_id",
            "feedback",
            "faq_key",
            "top_clause",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    # Ranked clause IDs returned, best first (empty for out-of-scope and bad input).
    clauses: Mapped[list[str]] = mapped_column(JSON, default=list)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    kind: Mapped[str] = mapped_column(String(16))
    # issue 13: the first clause of ``clauses`` (the one an answer quotes) and the FAQ entry
    # that answered (kind "faq"), as plain columns so /stats counts them from an index
    top_clause: Mapped[str | None] = mapped_column(String(16))
    faq_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # +1 / -1 from the 👍 / 👎 buttons; the latest press wins.
    feedback: Mapped[int | None] = mapped_column(SmallInteger)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
