"""The real delivery service over HTTP against the local Bot API server: its 429 answers pause
the broadcast, a blocked user is marked inactive, everybody else gets the message once."""

from __future__ import annotations

import collections

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.db.models import User
from bot.services.broadcast import counts, create_broadcast
from devtools.fake_botapi import FakeBotAPI
from tests.harness import Harness
from tests.test_reminders_support import FakeClock, make_user, services

TOKEN = "123456:" + "C" * 35


async def test_server_429s_pause_and_blocked_users_are_marked(harness: Harness) -> None:
    for i in range(40):
        await make_user(harness, 9000 + i)
    await make_user(harness, 9999, role="staff", lang="en")
    clock = FakeClock()
    # The sender is configured faster (BROADCAST_RATE 25) than this server allows (10 a second
    # on the same injected clock), so the server answers 429 and the service must obey.
    async with FakeBotAPI(token=TOKEN, rate_limit_per_second=10, clock=clock.monotonic) as api:
        api.block_user(9005)
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            broadcasts, _ = services(harness, clock)
            async with harness.ctx.sessionmaker() as session, session.begin():
                sender = await session.get(User, 9999)
                assert sender is not None
                b = await create_broadcast(session, sender=sender, text="<i>Hi</i>", audience={})
            await broadcasts.drain(bot)
        finally:
            await bot.session.close()
        per_chat = collections.Counter(
            int(c.params["chat_id"])
            for c in api.calls
            if c.method == "sendMessage" and c.error_code is None
        )
        assert api.rate_limited > 0 and broadcasts.stats.retry_after == api.rate_limited
        assert set(per_chat) == {9000 + i for i in range(40)} - {9005}
        assert max(per_chat.values()) == 1
    async with harness.ctx.sessionmaker() as session:
        assert await counts(session, b.id) == {"sent": 39, "blocked": 1}
        blocked = await session.get(User, 9005)
        assert blocked is not None and blocked.is_active is False
