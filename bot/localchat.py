"""The local chat: the real dispatcher, handlers, database and texts, in a terminal.

No token and no network: a :class:`LocalSession` answers the Bot API calls and prints what the
bot "sent". Keyboards are shown as numbered choices; typing the number presses the button. Lines
piped to standard input work too (``printf '/start\\n' | studentbot chat``).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from bot.config import Settings
from bot.db.migrate import upgrade
from bot.factory import AppContext, create_app_context, create_bot, create_dispatcher
from bot.local_session import LocalSession

LOCAL_TOKEN = "7066000001:LOCAL-chat-needs-no-token-0000000000"
TAG_RE = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """HTML parse-mode text as a terminal shows it."""
    return html.unescape(TAG_RE.sub("", text))


@dataclass
class Choice:
    label: str
    callback_data: str | None = None  # inline button
    message_id: int | None = None
    text: str | None = None  # reply-keyboard button


class Printer:
    def __init__(self, out: TextIO, outbox: Path) -> None:
        self.out = out
        self.outbox = outbox
        self.inline: list[Choice] = []
        self.reply: list[Choice] = []
        self._reply_changed = False

    @property
    def choices(self) -> list[Choice]:
        return self.inline + self.reply

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def show(self, method: TelegramMethod[Any], result: Any) -> None:
        name = method.__api_method__
        if isinstance(result, BaseException):
            return
        if name in {"sendMessage", "editMessageText"}:
            prefix = "bot" if name == "sendMessage" else "bot (edited)"
            self.write(f"{prefix}> " + plain(method.text).replace("\n", "\n     "))  # type: ignore[attr-defined]
            self._markup(method, result)
            self._print_choices()
        elif name == "editMessageReplyMarkup":
            self._markup(method, result)
            self._print_choices()
        elif name in {"sendDocument", "sendPhoto"}:
            saved = self._save(method)
            caption = plain(getattr(method, "caption", None) or "")
            self.write(
                f"bot> [{'document' if name == 'sendDocument' else 'photo'}: {saved}] "
                f"{caption}".rstrip()
            )
            self._markup(method, result)
            self._print_choices()
        elif name == "answerCallbackQuery" and getattr(method, "text", None):
            self.write("bot (notice)> " + plain(method.text))  # type: ignore[attr-defined]

    def _markup(self, method: Any, result: Any) -> None:
        markup = getattr(method, "reply_markup", None)
        message_id = getattr(result, "message_id", None)
        if isinstance(markup, InlineKeyboardMarkup):
            self.inline = [
                Choice(label=b.text, callback_data=b.callback_data, message_id=message_id)
                for row in markup.inline_keyboard
                for b in row
                if b.callback_data is not None
            ]
        else:
            self.inline = []
        self._reply_changed = False
        if isinstance(markup, ReplyKeyboardMarkup):
            reply = [Choice(label=b.text, text=b.text) for row in markup.keyboard for b in row]
            self._reply_changed = [c.label for c in reply] != [c.label for c in self.reply]
            self.reply = reply
        elif isinstance(markup, ReplyKeyboardRemove):
            self.reply = []

    def _print_choices(self) -> None:
        if self.inline:
            for number, choice in enumerate(self.inline, 1):
                self.write(f"  [{number}] {choice.label}")
        if self.reply and self._reply_changed:
            start = len(self.inline) + 1
            self.write(
                "  menu: " + "  ".join(f"[{n}] {c.label}" for n, c in enumerate(self.reply, start))
            )

    def _save(self, method: Any) -> str:
        from aiogram.types import BufferedInputFile, FSInputFile

        file = getattr(method, "document", None) or getattr(method, "photo", None)
        self.outbox.mkdir(parents=True, exist_ok=True)
        if isinstance(file, BufferedInputFile):
            path = self.outbox / (file.filename or "file.bin")
            path.write_bytes(file.data)
            return str(path)
        if isinstance(file, FSInputFile):
            return str(file.path)
        return str(file)


class LocalChat:
    """Turns typed lines into updates for the dispatcher."""

    def __init__(
        self, dp: Dispatcher, bot: Bot, printer: Printer, *, user_id: int, lang: str
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.printer = printer
        self.user = {
            "id": user_id,
            "is_bot": False,
            "first_name": os.environ.get("USER", "Student").capitalize() or "Student",
            "language_code": lang,
        }
        # Update ids must be new on every run: the database remembers which ids were handled
        # (processed_updates), so a second run on the same file counting from 1 again would
        # have its first lines dropped as duplicates.
        self._update_ids = itertools.count(time.time_ns() // 1_000_000)
        self._message_ids = itertools.count(1)

    def _update(self, **payload: Any) -> Update:
        return Update.model_validate(
            {"update_id": next(self._update_ids), **payload}, context={"bot": self.bot}
        )

    async def send_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return
        choices = self.printer.choices
        if line.strip().isdigit() and 1 <= int(line) <= len(choices):
            choice = choices[int(line) - 1]
            if choice.callback_data is not None:
                await self.press(choice)
                return
            line = choice.text or line
        chat = {"id": self.user["id"], "type": "private", "first_name": self.user["first_name"]}
        await self.dp.feed_update(
            self.bot,
            self._update(
                message={
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": chat,
                    "from": self.user,
                    "text": line,
                }
            ),
        )

    async def press(self, choice: Choice) -> None:
        chat = {"id": self.user["id"], "type": "private"}
        await self.dp.feed_update(
            self.bot,
            self._update(
                callback_query={
                    "id": str(next(self._update_ids)),
                    "from": self.user,
                    "chat_instance": "local",
                    "data": choice.callback_data,
                    "message": {
                        "message_id": choice.message_id or 1,
                        "date": int(time.time()),
                        "chat": chat,
                        "from": {"id": self.bot.id, "is_bot": True, "first_name": "AU Assistant"},
                        "text": "…",
                    },
                }
            ),
        )


async def run_chat(
    settings: Settings,
    *,
    lang: str,
    user_id: int = 1,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    ctx: AppContext | None = None,
) -> None:
    await upgrade(settings.database_url)
    interactive = stdin.isatty()
    if not interactive and ctx is None and settings.flood_limit > 0:
        # Piped lines arrive faster than anyone types; flood control would answer them instead.
        settings = settings.model_copy(update={"flood_limit": 0})
    own_ctx = ctx is None
    ctx = ctx or await create_app_context(settings)
    printer = Printer(stdout, Path("data") / "outbox")
    session = LocalSession(on_request=printer.show)
    bot = create_bot(settings, session=session, token=LOCAL_TOKEN)
    dp = create_dispatcher(ctx)
    chat = LocalChat(dp, bot, printer, user_id=user_id, lang=lang)
    if interactive:
        stdout.write("Local chat with the assistant. Type /start; Ctrl-D to leave.\n")
    try:
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            await chat.send_line(line)
    finally:
        if own_ctx:
            await ctx.close()
        await bot.session.close()
