"""Polling against the local Bot API: a poison update is skipped, the rest answered; a proxy's
HTML 502 on the cosmetic start-up calls does not stop the bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from sqlalchemy import select

from bot.app import AppContext
from bot.config import Settings
from bot.db.models.reliability import InboxUpdate
from bot.factory import (
    create_app_context,
    create_bot,
    create_dispatcher,
    register_commands,
)
from bot.metrics import metrics
from bot.polling import run_polling_loop
from devtools.fake_botapi import FakeBotAPI

TOKEN = "123456:" + "P" * 35
STUDENT = 8_800_001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN) as server:
        yield server


@pytest.fixture
async def app(sqlite_url: str, api: FakeBotAPI) -> AsyncIterator[tuple[AppContext, Bot]]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=sqlite_url, telegram_api_url=api.base_url, _env_file=None
    )
    ctx = await create_app_context(settings)
    bot = create_bot(settings, token=TOKEN)
    try:
        yield ctx, bot
    finally:
        await bot.session.close()
        await ctx.close()


def to_student(call) -> bool:  # type: ignore[no-untyped-def]
    return call.answered and call.params.get("chat_id") == STUDENT


async def test_a_poison_update_is_skipped_once_and_the_next_is_answered(
    api: FakeBotAPI, app: tuple[AppContext, Bot], caplog: pytest.LogCaptureFixture
) -> None:
    ctx, bot = app
    dp = create_dispatcher(ctx)
    before = metrics.value("studentbot_poison_updates_total")
    api.push_update({"message": {"message_id": "x", "chat": {"id": STUDENT}, "text": "boom"}})
    api.push_message(STUDENT, "/help")
    stop = asyncio.Event()
    polling = asyncio.create_task(run_polling_loop(dp, bot, ctx, stop=stop))
    try:
        [reply] = await api.wait_for("sendMessage", to_student, timeout=20)
        assert "/rules" in reply.params["text"]
        # The offset moved past both: the next getUpdates confirms them.
        await api.wait_for("getUpdates", lambda c: int(c.params.get("offset") or 0) > 2)
    finally:
        stop.set()
        pipeline = await polling
        await asyncio.gather(*pipeline.tasks.values())
    assert api.pending_updates == 0
    assert metrics.value("studentbot_poison_updates_total") == before + 1
    poison_logs = [r for r in caplog.records if "could not be parsed" in r.getMessage()]
    assert len(poison_logs) == 1
    async with ctx.sessionmaker() as session:  # kept for inspection, the other one handled
        rows = {r.update_id: r.status for r in await session.scalars(select(InboxUpdate))}
    assert rows == {1: "poison", 2: "done"}
    # Only the update types some handler takes are asked for.
    first_poll = api.calls_of("getUpdates")[0]
    assert first_poll.params["allowed_updates"] == dp.resolve_used_update_types()
    assert "message_reaction" not in first_poll.params["allowed_updates"]


@pytest.mark.parametrize("fault", ["html502", "missing_method"])
async def test_the_command_menu_failing_at_start_up_is_logged_and_ignored(
    api: FakeBotAPI,
    app: tuple[AppContext, Bot],
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    ctx, bot = app
    if fault == "html502":
        api.fail_next_raw("setMyCommands", 502, times=10)
    else:
        api.fail_next("setMyCommands", 404, "Not Found: method not found", times=10)
    with caplog.at_level(logging.WARNING):
        await register_commands(bot, ctx.i18n)  # does not raise
    warnings = [r for r in caplog.records if "command menu" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].exc_info is None
    # and the bot answers
    dp = create_dispatcher(ctx)
    api.push_message(STUDENT, "/help")
    stop = asyncio.Event()
    polling = asyncio.create_task(run_polling_loop(dp, bot, ctx, stop=stop))
    try:
        await api.wait_for("sendMessage", to_student, timeout=20)
    finally:
        stop.set()
        pipeline = await polling
        await asyncio.gather(*pipeline.tasks.values())
