"""Drive the real dispatcher through ``Dispatcher.feed_update`` and read what the bot sent.

    harness = await Harness.create(database_url)
    await harness.send("/start", user=STUDENT)
    assert "Choose your language" in harness.last_text()
    await harness.click_button("Русский")

Every outgoing Bot API call is recorded by :class:`bot.local_session.LocalSession`, the same
session the local chat uses, so tests assert on exactly what a user would see.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import InlineKeyboardMarkup, Update
from sqlalchemy import event

from bot.app import AppContext
from bot.config import Settings
from bot.factory import create_app_context, create_bot, create_dispatcher
from bot.local_session import LocalSession

TEST_TOKEN = "42:TEST-token-for-the-recording-session-000"


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str = "Aigerim"
    last_name: str | None = "Sadykova"
    language_code: str | None = "kk"
    username: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.language_code:
            data["language_code"] = self.language_code
        if self.username:
            data["username"] = self.username
        return data


STUDENT = TgUser(id=1001, first_name="Aigerim", language_code="kk")
STUDENT_RU = TgUser(id=1002, first_name="Ivan", last_name="Petrov", language_code="ru")
STUDENT_EN = TgUser(id=1003, first_name="John", last_name="Smith", language_code="en")
STAFF = TgUser(id=2001, first_name="Dana", last_name="Helpdesk", language_code="ru")
ADMIN = TgUser(id=9001, first_name="Admin", last_name=None, language_code="en")
STAFF_CHAT_ID = -1001234567890


@dataclass
class Harness:
    ctx: AppContext
    dp: Dispatcher
    bot: Bot
    session: LocalSession
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    async def create(
        cls, database_url: str, *, ctx: AppContext | None = None, **settings: Any
    ) -> Harness:
        """A dispatcher on ``database_url`` (already migrated). ``settings`` override the env."""
        settings.setdefault("admin_ids", [ADMIN.id])
        settings.setdefault("staff_chat_id", STAFF_CHAT_ID)
        settings.setdefault("redis_url", None)
        settings.setdefault("flood_limit", 0)  # stories type fast; flood control has its own tests
        if ctx is None:
            cfg = Settings(database_url=database_url, _env_file=None, **settings)  # type: ignore[call-arg]
            ctx = await create_app_context(cfg)
        session = LocalSession()
        bot = create_bot(ctx.settings, session=session, token=TEST_TOKEN)
        return cls(ctx=ctx, dp=create_dispatcher(ctx), bot=bot, session=session)

    async def restart(self) -> Harness:
        """A new dispatcher and bot on the same database and storage: what a restart keeps."""
        fresh = await Harness.create(self.ctx.settings.database_url, ctx=self.ctx)
        fresh._update_ids = self._update_ids
        fresh._message_ids = self._message_ids
        return fresh

    async def close(self) -> None:
        await self.ctx.close()
        await self.bot.session.close()

    # Feeding updates ----------------------------------------------------------------------
    async def feed(self, payload: dict[str, Any]) -> list[TelegramMethod[Any]]:
        """Feed one raw update; returns the Bot API calls it caused."""
        before = len(self.session.requests)
        update = Update.model_validate(
            {"update_id": next(self._update_ids), **payload}, context={"bot": self.bot}
        )
        await self.dp.feed_update(self.bot, update)
        return self.session.requests[before:]

    def message_payload(
        self,
        user: TgUser,
        *,
        text: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        thread_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": chat_id if chat_id is not None else user.id,
            "type": chat_type,
        }
        if chat_type == "private":
            chat["first_name"] = user.first_name
        else:
            chat["title"] = "Helpdesk"
            if thread_id is not None:
                chat["is_forum"] = True
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user.as_dict(),
            **content,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(command)}
                ]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    async def send(
        self, text: str, user: TgUser = STUDENT, **kwargs: Any
    ) -> list[TelegramMethod[Any]]:
        return await self.feed({"message": self.message_payload(user, text=text, **kwargs)})

    async def send_content(
        self, user: TgUser = STUDENT, **content: Any
    ) -> list[TelegramMethod[Any]]:
        """A non-text message, e.g. ``sticker={...}``, ``document={...}``, ``photo=[...]``."""
        return await self.feed({"message": self.message_payload(user, **content)})

    async def edit(self, text: str, user: TgUser = STUDENT) -> list[TelegramMethod[Any]]:
        payload = self.message_payload(user, text=text)
        payload["edit_date"] = int(time.time())
        return await self.feed({"edited_message": payload})

    async def click(
        self,
        data: str,
        user: TgUser = STUDENT,
        *,
        message_id: int = 1,
        chat_id: int | None = None,
        chat_type: str = "private",
    ) -> list[TelegramMethod[Any]]:
        chat = {"id": chat_id if chat_id is not None else user.id, "type": chat_type}
        return await self.feed(
            {
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": user.as_dict(),
                    "chat_instance": "test",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": chat,
                        "from": {"id": 42, "is_bot": True, "first_name": "Bot"},
                        "text": "…",
                    },
                }
            }
        )

    async def click_button(self, label: str, user: TgUser = STUDENT) -> list[TelegramMethod[Any]]:
        """Press the inline button containing ``label`` in the newest keyboard sent to ``user``."""
        for method in reversed(self.session.requests):
            markup = getattr(method, "reply_markup", None)
            if getattr(method, "chat_id", None) != user.id or not isinstance(
                markup, InlineKeyboardMarkup
            ):
                continue
            for row in markup.inline_keyboard:
                for button in row:
                    if label in button.text and button.callback_data:
                        message_id = getattr(method, "message_id", None) or 1
                        return await self.click(button.callback_data, user, message_id=message_id)
            break
        raise AssertionError(f"no inline button {label!r} in the last keyboard sent to {user.id}")

    # Reading what was sent ----------------------------------------------------------------
    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of sendMessage / editMessageText (and captions of documents), oldest first."""
        out: list[str] = []
        for method in self.session.requests:
            if chat_id is not None and getattr(method, "chat_id", None) != chat_id:
                continue
            if isinstance(method, (SendMessage, EditMessageText)):
                out.append(method.text)
            elif isinstance(method, SendDocument) and method.caption:
                out.append(method.caption)
        return out

    def last_text(self, chat_id: int | None = None) -> str:
        texts = self.texts(chat_id)
        assert texts, "the bot sent no text"
        return texts[-1]

    def last(self, method_type: type[Any], chat_id: int | None = None) -> Any:
        for method in reversed(self.session.requests):
            if isinstance(method, method_type) and (
                chat_id is None or getattr(method, "chat_id", None) == chat_id
            ):
                return method
        raise AssertionError(f"no {method_type.__name__} was sent")

    def buttons(self, chat_id: int | None = None) -> list[str]:
        """Labels of the newest inline or reply keyboard sent (to ``chat_id``)."""
        for method in reversed(self.session.requests):
            if chat_id is not None and getattr(method, "chat_id", None) != chat_id:
                continue
            markup = getattr(method, "reply_markup", None)
            if markup is None or (isinstance(method, EditMessageReplyMarkup) and markup is None):
                continue
            rows = getattr(markup, "inline_keyboard", None) or getattr(markup, "keyboard", None)
            if rows:
                return [b.text for row in rows for b in row]
        return []

    def alerts(self) -> list[str]:
        return [
            m.text for m in self.session.requests if isinstance(m, AnswerCallbackQuery) and m.text
        ]


@contextmanager
def statements_on(harness: Harness) -> Iterator[list[str]]:
    """The SQL statements the bot sends meanwhile, whitespace folded (issue 18's tests count
    them)."""
    seen: list[str] = []

    def on(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    engine = harness.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on)
