"""The web chat (issue 14): what each browser user was shown, and the files of that chat.

Every row of ``web_messages`` is one event of a web user's chat, numbered by ``seq`` (the
sequence number a browser resumes from after a reconnect): a message either way, an edit, a
deletion, a reaction, a button press. ``message_id`` is the message's Bot API id, handed out
in blocks from ``web_counters`` (a handler needs it at once, before the row can be written).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, UTCDateTime, utcnow

# SQLite auto-numbers only an INTEGER primary key; PostgreSQL gets a 64-bit sequence.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class WebMessage(Base):
    __tablename__ = "web_messages"
    # seq never reused after /forget (a browser resuming from an old seq)
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's own

    seq: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # "message" (shown), "edit", "delete", "reaction", "press" (a button the user pressed).
    kind: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(8))  # "user", "bot" or "staff"
    ref: Mapped[int | None] = mapped_column(BigInteger)  # the message an edit/press is about
    text: Mapped[str | None] = mapped_column(Text)  # bot: Telegram HTML; user: plain text
    markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebCounter(Base):
    """Blocks of message ids: each process takes the next block, no two get the same ids."""

    __tablename__ = "web_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class WebFile(Base):
    """A file in a web chat: an upload from the browser or a document the bot sent."""

    __tablename__ = "web_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
