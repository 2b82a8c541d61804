"""The web chat on a local port with the real dispatcher, in a thread of its own.

For the browser tests, the README's screenshots and the web-chat bench: a synchronous driver
(Selenium, a script) talks to it over HTTP while the bot runs on its own event loop. The Bot
API beyond the web chats is :class:`bot.local_session.LocalSession` (the staff chat is
recorded, never sent), and :meth:`WebChatServer.staff_reply` writes in a ticket's staff topic
as a member of the staff would in Telegram.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import AppContext
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.factory import create_app_context, create_bot, create_dispatcher
from bot.local_session import LocalSession
from bot.web.server import WebChat, build_web_chat, build_web_chat_app

T = TypeVar("T")
STAFF_CHAT_ID = -1007066000000
STAFF_ID = 7066000777
TOKEN = "7066000001:LOCAL-web-chat-needs-no-token-00000000"
SECRET = "local-web-chat-secret-only-for-tests-and-screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebChatServer:
    def __init__(self, database_url: str, **settings: Any) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            staff_chat_id=STAFF_CHAT_ID,
            web_chat_enabled=True,
            web_chat_secret=SecretStr(SECRET),
            web_chat_cookie_secure=False,
            **settings,
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ctx: AppContext | None = None
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.chat: WebChat | None = None
        self.session = LocalSession()
        self._runner: web.AppRunner | None = None
        self._update_ids = iter(range(time.time_ns() // 1000, 2**62))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, factory: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
        """Run ``factory()`` on the server's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(_run(factory), self.loop)
        return future.result(timeout)

    def start(self) -> WebChatServer:
        self._thread.start()
        self.call(self._start)
        return self

    async def _start(self) -> None:
        await upgrade(self.database_url)
        self.ctx = await create_app_context(self.settings)
        self.bot = create_bot(self.settings, session=self.session, token=TOKEN)
        self.dp = create_dispatcher(self.ctx)
        self.chat = build_web_chat(self.ctx, self.dp, self.bot)
        self._runner = web.AppRunner(build_web_chat_app(self.chat), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        from bot.db.models import Role
        from bot.services.users import UserRepository

        async with self.ctx.sessionmaker() as session:
            await UserRepository(session).set_role(STAFF_ID, Role.STAFF)
            await session.commit()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self._stop)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
        self.loop.close()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.ctx is not None:
            await self.ctx.close()
        if self.bot is not None:
            await self.bot.session.close()

    async def handled(self) -> None:
        assert self.chat is not None
        await self.chat.intake.wait_handled()

    def staff_reply(self, text: str) -> None:
        """A staff member answers the newest ticket in its staff topic."""
        self.call(lambda: self._staff_reply(text))

    async def _staff_reply(self, text: str) -> None:
        from bot.db.models.helpdesk import Ticket

        assert self.ctx is not None and self.dp is not None and self.bot is not None
        await self.handled()
        async with self.ctx.sessionmaker() as session:
            ticket = await session.scalar(select(Ticket).order_by(Ticket.id.desc()).limit(1))
        assert ticket is not None, "no ticket was opened"
        update = Update.model_validate(
            {
                "update_id": next(self._update_ids),
                "message": {
                    "message_id": next(self._update_ids) % 2**31,
                    "date": int(time.time()),
                    "chat": {
                        "id": STAFF_CHAT_ID,
                        "type": "supergroup",
                        "title": "Helpdesk",
                        "is_forum": True,
                    },
                    "from": {
                        "id": STAFF_ID,
                        "is_bot": False,
                        "first_name": "Dana",
                        "language_code": "ru",
                    },
                    "text": text,
                    "message_thread_id": ticket.thread_id,
                    "is_topic_message": True,
                },
            },
            context={"bot": self.bot},
        )
        await self.dp.feed_update(self.bot, update)


async def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
