"""Browser input as aiogram updates: a typed message, a pressed button, an uploaded file.

Each input is stored first (its ``seq``, offset by :data:`bot.web.ids.WEB_UPDATE_BASE`, is
the update's id, so the update ledger sees every one once) and then fed to the same
dispatcher as Telegram's updates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.db.base import utcnow
from bot.db.models import User
from bot.db.models.web import WebMessage
from bot.web.ids import WEB_UPDATE_BASE, from_web
from bot.web.render import plain_text
from bot.web.session import CALLBACK_PREFIX, WEB_FILE_PREFIX
from bot.web.store import WebChatStore


class StaleButton(Exception):
    """A press of a button the user was never shown (forged) or that is gone."""


def web_name(user_id: int) -> str:
    return f"Web {user_id % 100000:05d}"


class WebIntake:
    def __init__(
        self, dp: Dispatcher, bot: Bot, store: WebChatStore, *, max_in_flight: int = 64
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.store = store
        self._slots = asyncio.Semaphore(max_in_flight)
        self.tasks: set[asyncio.Task[Any]] = set()

    def _user(self, user_id: int, lang: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": web_name(user_id)}
        if lang:
            user["language_code"] = lang
        return user

    async def set_language(self, user_id: int, lang: str) -> None:
        """The page's language switcher: the same stored choice as the bot's own."""
        await self.store.ensure_user(user_id, first_name=web_name(user_id), language=lang)
        async with self.store.sessionmaker() as session:
            user = await session.get(User, user_id)
            if user is not None and user.language != lang:
                user.language = lang
                await session.commit()

    async def message(
        self,
        user_id: int,
        lang: str | None,
        *,
        text: str | None = None,
        file_token: str | None = None,
        file: dict[str, Any] | None = None,
    ) -> int:
        """Store the user's message and hand it to the dispatcher; returns its seq."""
        row = WebMessage(
            message_id=await self.store.next_message_id(),
            user_id=user_id,
            kind="message",
            sender="user",
            text=text,
            file_token=file_token,
            created_at=utcnow(),
        )
        await self.store.add_from_user(row, first_name=web_name(user_id), language=lang)
        message: dict[str, Any] = {
            "message_id": row.message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": web_name(user_id)},
            "from": self._user(user_id, lang),
        }
        if file is not None and file_token is not None:
            file_id = WEB_FILE_PREFIX + file_token
            if file["mime_type"] == "image/jpeg":
                message["photo"] = [
                    {
                        "file_id": file_id,
                        "file_unique_id": file_token[:16],
                        "width": 1,
                        "height": 1,
                        "file_size": file["size"],
                    }
                ]
            else:
                message["document"] = {
                    "file_id": file_id,
                    "file_unique_id": file_token[:16],
                    "file_name": file["name"],
                    "mime_type": file["mime_type"],
                    "file_size": file["size"],
                }
            if text:
                message["caption"] = text
        elif text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": len(command)}
                ]
        await self._feed(row.seq, {"message": message})
        return row.seq

    async def press(self, user_id: int, lang: str | None, message_id: int, data: str) -> int:
        """A button pressed under message ``message_id``; only a button that message has."""
        shown = await self.store.find(user_id, message_id)
        buttons = (shown.markup or {}).get("inline_keyboard", []) if shown is not None else []
        if shown is None or not any(
            b.get("callback_data") == data for row in buttons for b in row
        ):
            raise StaleButton(message_id)
        row = WebMessage(
            message_id=0,
            user_id=user_id,
            kind="press",
            sender="user",
            ref=message_id,
            text=data,
            created_at=utcnow(),
        )
        await self.store.add_from_user(row, first_name=web_name(user_id), language=lang)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": web_name(user_id)},
            "from": {"id": self.bot.id, "is_bot": True, "first_name": "AU Assistant"},
            "text": plain_text(shown.text) or "…",
            "reply_markup": shown.markup,
        }
        await self._feed(
            row.seq,
            {
                "callback_query": {
                    "id": f"{CALLBACK_PREFIX}{user_id}:{row.seq}",
                    "from": self._user(user_id, lang),
                    "chat_instance": f"web{user_id}",
                    "data": data,
                    "message": message,
                }
            },
        )
        return row.seq

    async def _feed(self, seq: int, payload: dict[str, Any]) -> None:
        update = Update.model_validate(
            {"update_id": WEB_UPDATE_BASE + seq, **payload}, context={"bot": self.bot}
        )
        async with self._slots:
            token = from_web.set(True)
            try:
                await self.dp.feed_update(self.bot, update)
            finally:
                from_web.reset(token)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Handle in the background (the socket keeps reading); kept for the drain."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def wait_handled(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
