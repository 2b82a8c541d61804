"""The local chat: the real dispatcher, handlers, database and texts, in a terminal.

No token and no network: a :class:`LocalSession` answers the Bot API calls and this module
prints what the bot "sent". Keyboards are shown as numbered choices; typing the number presses
the button. Lines piped to standard input work too (``printf '/start\\n' | studentbot chat``).

``--user ID`` acts as any user; ``--staff`` shows the staff chat too (prefixed
``[staff chat · topic N]``), and a line starting with ``>`` is written there as this user
(``>N text`` in topic N, ``> text`` in the topic last shown). The background workers run here
as in the bot (broadcast delivery, reminders, the helpdesk SLA), and several local chats on one
database see each other's messages through a shared folder (:mod:`bot.localhub`): a
curator's broadcast reaches the student in the other terminal, staff answer a ticket or decide
an application from theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.app import AppContext
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.factory import create_app_context, create_bot, create_dispatcher
from bot.local_session import LocalSession
from bot.localhub import LOCAL_STAFF_CHAT_ID, LocalHub, Record, hub_dir

LOCAL_TOKEN = "7066000001:LOCAL-chat-needs-no-token-0000000000"
TAG_RE = re.compile(r"<[^>]+>")
STAFF_LINE = re.compile(r"^>\s*(\d+)?\s?(.*)$", re.S)
HUB_POLL_SECONDS = 0.25


def plain(text: str) -> str:
    """HTML parse-mode text as a terminal shows it."""
    return html.unescape(TAG_RE.sub("", text))


@dataclass
class Choice:
    label: str
    callback_data: str | None = None  # inline button
    message_id: int | None = None
    text: str | None = None  # reply-keyboard button
    chat_id: int | None = None  # the chat the button is in (None: the private chat)
    thread_id: int | None = None


class Printer:
    """Prints the records of this terminal's chats: the user's private chat, and with
    ``staff_chat_id`` the staff chat too."""

    def __init__(self, out: TextIO, *, user_id: int, staff_chat_id: int | None = None) -> None:
        self.out = out
        self.user_id = user_id
        self.staff_chat_id = staff_chat_id
        self.inline: list[Choice] = []
        self.reply: list[Choice] = []
        self.last_thread: int | None = None  # the staff-chat topic shown last
        self._reply_changed = False

    @property
    def choices(self) -> list[Choice]:
        return self.inline + self.reply

    def write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def mine(self, record: Record) -> bool:
        return record.chat_id == self.user_id or (
            self.staff_chat_id is not None and record.chat_id == self.staff_chat_id
        )

    def show(self, record: Record) -> None:
        if record.method == "notice":
            self.write("bot (notice)> " + plain(record.text))
            return
        if not self.mine(record):
            return
        where = ""
        if record.chat_id == self.staff_chat_id:
            self.last_thread = record.thread_id
            topic = f" · topic {record.thread_id}" if record.thread_id else ""
            where = f"[staff chat{topic}] "
        body = plain(record.text).replace("\n", "\n     ")
        if record.method == "topic":
            self.write(f"{where}— topic «{plain(record.text)}»")
            return
        if record.method == "setMessageReaction":
            self.write(f"{where}bot (mark)> {record.text} on your message")
            return
        if record.method == "editMessageReplyMarkup":
            self._markup(record)
            self._print_choices()
            return
        if record.method in {"sendMessage", "editMessageText"}:
            prefix = "bot" if record.method == "sendMessage" else "bot (edited)"
            self.write(f"{where}{prefix}> {body}")
        elif record.method == "copyMessage":
            self.write(f"{where}{record.sender or 'someone'}> {body}")
        elif record.method in {"sendDocument", "sendPhoto"}:
            kind = "document" if record.method == "sendDocument" else "photo"
            self.write(f"{where}bot> [{kind}: {record.file}] {plain(record.text)}".rstrip())
            if not record.buttons:
                return  # files after a card (the statement) leave the card's buttons usable
        self._markup(record)
        self._print_choices()

    def _markup(self, record: Record) -> None:
        self.inline = [
            Choice(
                label=label,
                callback_data=data,
                message_id=record.message_id,
                chat_id=record.chat_id,
                thread_id=record.thread_id,
            )
            for label, data in record.buttons
        ]
        self._reply_changed = False
        if record.menu:
            reply = [Choice(label=label, text=label) for label in record.menu]
            self._reply_changed = [c.label for c in reply] != [c.label for c in self.reply]
            self.reply = reply
        elif record.menu == []:
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


class LocalChat:
    """Turns typed lines into updates for the dispatcher, as the user (or, with ``>``, as
    this user in the staff chat)."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        printer: Printer,
        *,
        user_id: int,
        lang: str,
        name: str | None = None,
        session: LocalSession | None = None,
        hub: LocalHub | None = None,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.printer = printer
        self.session = session
        self.hub = hub
        default = os.environ.get("USER", "Student").capitalize() or "Student"
        self.user_id = user_id
        self.user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": name or (default if user_id == 1 else f"User {user_id}"),
            "language_code": lang,
        }
        # Update ids must be new on every run: the database remembers which ids were handled
        # (processed_updates), so a second run on the same file counting from 1 again would
        # have its first lines dropped as duplicates. Two chats at once must not collide.
        self._update_ids = iter(range(time.time_ns() // 1_000 + user_id % 1000, 2**62, 1000))
        self._message_ids = iter(range(1, 2**31))

    def _update(self, **payload: Any) -> Update:
        return Update.model_validate(
            {"update_id": next(self._update_ids), **payload}, context={"bot": self.bot}
        )

    def _message_id(self, chat_id: int) -> int:
        if self.session is not None:
            return self.session.new_message_id(chat_id)
        return next(self._message_ids)

    async def send_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return
        staff_chat = self.printer.staff_chat_id
        if staff_chat is not None and line.startswith(">"):
            match = STAFF_LINE.match(line)
            assert match is not None
            topic, text = match.groups()
            thread = int(topic) if topic else self.printer.last_thread
            if text.strip():
                await self.write(staff_chat, text.strip(), thread=thread or None)
            return
        choices = self.printer.choices
        if line.strip().isdigit() and 1 <= int(line) <= len(choices):
            choice = choices[int(line) - 1]
            if choice.callback_data is not None:
                await self.press(choice)
                return
            line = choice.text or line
        await self.write(self.user_id, line)

    async def write(self, chat_id: int, text: str, *, thread: int | None = None) -> None:
        """A message from this user in ``chat_id`` (their private chat or the staff chat)."""
        message_id = self._message_id(chat_id)
        if self.session is not None:
            self.session.known[(chat_id, message_id)] = (text, str(self.user["first_name"]))
        chat: dict[str, Any]
        if chat_id == self.user_id:
            chat = {"id": chat_id, "type": "private", "first_name": self.user["first_name"]}
        else:
            chat = {"id": chat_id, "type": "supergroup", "title": "Helpdesk", "is_forum": True}
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.user,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if thread is not None:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        await self.dp.feed_update(self.bot, self._update(message=message))

    async def press(self, choice: Choice) -> None:
        chat_id = choice.chat_id if choice.chat_id is not None else self.user_id
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        message: dict[str, Any] = {
            "message_id": choice.message_id or 1,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": self.bot.id, "is_bot": True, "first_name": "AU Assistant"},
            "text": "…",
        }
        if chat_id != self.user_id:
            chat.update(type="supergroup", title="Helpdesk", is_forum=True)
            if choice.thread_id is not None:
                message["message_thread_id"] = choice.thread_id
                message["is_topic_message"] = True
        await self.dp.feed_update(
            self.bot,
            self._update(
                callback_query={
                    "id": str(next(self._update_ids)),
                    "from": self.user,
                    "chat_instance": "local",
                    "data": choice.callback_data,
                    "message": message,
                }
            ),
        )

    def poll_hub(self) -> int:
        """Print what other local chats sent to this terminal's chats; returns how many."""
        if self.hub is None:
            return 0
        records = self.hub.new_records()
        for record in records:
            self.printer.show(record)
        return len(records)


class LocalChatApp:
    """One local-chat "process": dispatcher, workers and the hub, without reading stdin."""

    def __init__(
        self,
        settings: Settings,
        *,
        lang: str,
        user_id: int = 1,
        name: str | None = None,
        staff: bool = False,
        stdout: TextIO = sys.stdout,
        ctx: AppContext | None = None,
        hub_path: Path | None = None,
        workers: bool = True,
    ) -> None:
        if settings.staff_chat_id is None:
            # The local chat has a staff chat of its own, shown by `--staff`.
            settings = settings.model_copy(update={"staff_chat_id": LOCAL_STAFF_CHAT_ID})
        self.settings = settings
        self.lang = lang
        self.user_id = user_id
        self.name = name
        self.staff = staff
        self.stdout = stdout
        self.ctx = ctx
        self.own_ctx = ctx is None
        self.hub_path = hub_path
        self.run_workers = workers
        self._follower: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LocalChatApp:
        from bot.runner import BackgroundWorkers

        await upgrade(self.settings.database_url)
        self.ctx = self.ctx or await create_app_context(self.settings)
        self.hub = LocalHub(self.hub_path or hub_dir(self.settings.database_url))
        self.printer = Printer(
            self.stdout,
            user_id=self.user_id,
            staff_chat_id=self.settings.staff_chat_id if self.staff else None,
        )
        self.session = LocalSession(hub=self.hub, on_record=self.printer.show)
        self.bot = create_bot(self.settings, session=self.session, token=LOCAL_TOKEN)
        self.dp = create_dispatcher(self.ctx)
        self.chat = LocalChat(
            self.dp,
            self.bot,
            self.printer,
            user_id=self.user_id,
            lang=self.lang,
            name=self.name,
            session=self.session,
            hub=self.hub,
        )
        self.workers = BackgroundWorkers(self.ctx)
        if self.run_workers:
            await self.workers.start(self.bot)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_following()
        assert self.ctx is not None
        await self.workers.stop(self.settings.shutdown_timeout)
        if self.own_ctx:
            await self.ctx.close()
        await self.bot.session.close()

    def follow(self, *, prompt: str | None = None) -> None:
        """Print what other local chats send to this one as it arrives (below the ``prompt``
        the user is typing at, which is shown again after)."""

        async def loop() -> None:
            while True:
                records = self.hub.new_records()
                mine = [r for r in records if self.printer.mine(r)]
                if mine and prompt:
                    self.printer.out.write("\r")
                for record in records:
                    self.printer.show(record)
                if mine and prompt:
                    self.printer.out.write(prompt)
                    self.printer.out.flush()
                await asyncio.sleep(HUB_POLL_SECONDS)

        self._follower = asyncio.create_task(loop(), name="localchat:hub")

    async def stop_following(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None

    async def settle(self) -> None:
        """Piped input ended: deliver the broadcasts still pending and show what arrived."""
        if self.ctx is not None:
            broadcasts = self.ctx.services.broadcasts
            try:
                await asyncio.wait_for(broadcasts.drain(self.bot), timeout=30)
            except (TimeoutError, RuntimeError):
                pass
        self.chat.poll_hub()

    async def staff_role_hint(self) -> None:
        from bot.db.models import Role, User
        from bot.filters import has_role

        assert self.ctx is not None
        async with self.ctx.sessionmaker() as session:
            user = await session.get(User, self.user_id)
        if user is None or not has_role(user, Role.STAFF):
            self.printer.write(
                f"(user {self.user_id} has no staff role here, so what you write in the staff "
                f"chat is not relayed: run `studentbot grant staff {self.user_id}` first)"
            )


async def run_chat(
    settings: Settings,
    *,
    lang: str,
    user_id: int = 1,
    name: str | None = None,
    staff: bool = False,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    ctx: AppContext | None = None,
) -> None:
    interactive = stdin.isatty()
    if not interactive and ctx is None and settings.flood_limit > 0:
        # Piped lines arrive faster than anyone types; flood control would answer them instead.
        settings = settings.model_copy(update={"flood_limit": 0})
    async with LocalChatApp(
        settings, lang=lang, user_id=user_id, name=name, staff=staff, stdout=stdout, ctx=ctx
    ) as app:
        if interactive:
            stdout.write(
                f"Local chat with the assistant as user {user_id}. Type /start; Ctrl-D to leave.\n"
            )
            if staff:
                stdout.write(
                    "The staff chat is shown too: a line starting with '>' is written there "
                    "('>N text' in topic N, '> text' in the topic shown last).\n"
                )
        if staff:
            await app.staff_role_hint()
        app.follow(prompt="you> " if interactive else None)
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            await app.chat.send_line(line)
        await app.stop_following()
        if not interactive:
            await app.settle()
