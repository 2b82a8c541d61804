"""What several local-chat processes share: message ids, and what the bot sent to whom.

Each ``studentbot chat`` process answers the Bot API calls of its own dispatcher (no network).
When two run on one database — a student in one terminal, a staff member in another — a
message the first process sends to the staff chat must appear in the second. The hub is a
folder next to the database: ``messages.jsonl`` gets one JSON line per message the bot sent
(or edited, or copied), from any process; each process prints the lines addressed to its own
chats. ``ids`` is a counter shared under a file lock, so message and topic ids are unique
across processes, as Telegram's are within a chat.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

LOCAL_STAFF_CHAT_ID = -1007066000000  # the local chat's staff supergroup when none is set


@dataclass
class Record:
    """One thing the bot did in a chat, as a terminal shows it."""

    method: str  # sendMessage, editMessageText, copyMessage, sendDocument, topic, reaction …
    chat_id: int
    message_id: int | None = None
    thread_id: int | None = None
    text: str = ""
    sender: str | None = None  # who wrote a copied message; None: the bot
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, callback data)
    menu: list[str] | None = None  # reply-keyboard labels; [] removes the keyboard
    file: str | None = None
    origin: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Record:
        raw = json.loads(line)
        raw["buttons"] = [tuple(b) for b in raw.get("buttons") or []]
        return cls(**raw)


def hub_dir(database_url: str) -> Path:
    """``<folder of the SQLite file>/localchat``, else ``data/localchat``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / "localchat"
    return Path("data") / "localchat"


class LocalHub:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self.log = path / "messages.jsonl"
        self.log.touch()
        self.origin = uuid.uuid4().hex  # this process
        self.offset = self.log.stat().st_size  # show what happens from now on

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.path / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def next_id(self) -> int:
        """A message or topic id no other local-chat process on this hub hands out."""
        counter = self.path / "ids"
        with self._locked():
            try:
                current = int(counter.read_text() or "0")
            except (FileNotFoundError, ValueError):
                current = 0
            current += 1
            counter.write_text(str(current))
        return current

    def publish(self, record: Record) -> None:
        record.origin = self.origin
        line = record.to_json() + "\n"
        with self._locked(), self.log.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def new_records(self) -> list[Record]:
        """What other processes published since the last call (whole lines only)."""
        out: list[Record] = []
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n")
        if end < 0:
            return out
        self.offset += end + 1
        for raw in data[: end + 1].splitlines():
            try:
                record = Record.from_json(raw.decode("utf-8"))
            except (ValueError, TypeError):
                continue
            if record.origin != self.origin:
                out.append(record)
        return out


def record_of(
    method: Any, result: Any, known: dict[tuple[int, int], tuple[str, str]]
) -> Record | None:
    """The record of a Bot API call that shows something in a chat (None for the others).

    ``known`` maps (chat, message id) to (text, sender) of messages typed in this process, so
    a ``copyMessage`` of one can say what was copied and who wrote it."""
    from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

    name = method.__api_method__
    chat_id = getattr(method, "chat_id", None)
    if not isinstance(chat_id, int):
        return None
    message_id = getattr(result, "message_id", None) or getattr(method, "message_id", None)
    thread = getattr(method, "message_thread_id", None)
    record = Record(method=name, chat_id=chat_id, message_id=message_id, thread_id=thread)
    markup = getattr(method, "reply_markup", None)
    if isinstance(markup, InlineKeyboardMarkup):
        record.buttons = [
            (b.text, b.callback_data)
            for row in markup.inline_keyboard
            for b in row
            if b.callback_data is not None
        ]
    elif isinstance(markup, ReplyKeyboardMarkup):
        record.menu = [b.text for row in markup.keyboard for b in row]
    elif isinstance(markup, ReplyKeyboardRemove):
        record.menu = []
    if name in {"sendMessage", "editMessageText"}:
        record.text = method.text
    elif name == "editMessageReplyMarkup":
        pass
    elif name in {"sendDocument", "sendPhoto"}:
        record.text = getattr(method, "caption", None) or ""
    elif name == "copyMessage":
        text, sender = known.get((method.from_chat_id, method.message_id), ("", ""))
        record.text = text or "[a message]"
        record.sender = sender or None
    elif name == "setMessageReaction":
        reactions = getattr(method, "reaction", None) or []
        record.text = "".join(getattr(r, "emoji", "") for r in reactions)
    elif name in {"createForumTopic", "editForumTopic"}:
        record.method = "topic"
        record.text = getattr(method, "name", "") or ""
        record.thread_id = getattr(result, "message_thread_id", None) or thread
    else:
        return None
    return record
