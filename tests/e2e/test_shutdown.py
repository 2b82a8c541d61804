"""End to end: 1,000 students write while the bot is stopped with SIGTERM and started again.

The real ``python -m bot run`` process polls the local Bot API server. SIGTERM lands midway:
the bot stops polling, lets the handlers in flight finish and exits 0. Before the restart the
server redelivers some updates that were already answered (as Telegram does when the bot
stopped before confirming the offset). After the restart every student has exactly one answer.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from devtools.fake_botapi import Call, FakeBotAPI
from tests.e2e.test_bot_process import (  # noqa: F401  (fixtures)
    START_TIMEOUT,
    TOKEN,
    BotProcess,
    api,
    start_bot,
)

pytestmark = pytest.mark.e2e

UPDATES = 1000
FIRST_USER = 7_100_000
REDELIVERED = 25
STOP_TIMEOUT = 60
ALL_ANSWERED_TIMEOUT = 240


def delivered(call: Call) -> bool:
    return call.answered and call.error_code is None


async def stop(bot: BotProcess) -> int:
    bot.process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            return await bot.process.wait()
    except TimeoutError:
        pytest.fail(f"the bot ignored SIGTERM for {STOP_TIMEOUT}s\n{bot.log()}")


async def drained_and_stopped(
    server: FakeBotAPI, bot: BotProcess, last_id: int, since: int
) -> None:
    """Wait until the bot confirmed every update up to ``last_id`` (in calls from index
    ``since`` on, i.e. this process's), then stop it cleanly."""
    await bot.expect(
        server.wait_for(
            "getUpdates",
            lambda c: int(c.params.get("offset") or 0) > last_id,
            since=since,
            timeout=60,
        ),
        "the bot never confirmed the last update",
    )
    assert await stop(bot) == 0, bot.log()
    assert "Traceback" not in bot.log(), bot.log()


async def test_every_update_is_answered_exactly_once_across_sigterm_and_restart(
    api: FakeBotAPI,  # noqa: F811 - the fixture imported above
    start_bot: Callable[..., Awaitable[BotProcess]],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "SHUTDOWN_TIMEOUT": "60",
        "LOG_LEVEL": "INFO",
    }
    first = await start_bot("run", **env)
    await first.expect(api.wait_for("getUpdates", timeout=START_TIMEOUT), "the bot never polled")

    pushed = [
        api.push_message(FIRST_USER + i, "/help", language_code=("kk", "ru", "en")[i % 3])
        for i in range(UPDATES)
    ]

    # Midway through, the bot is told to stop.
    await first.expect(
        api.wait_for("sendMessage", delivered, count=UPDATES // 3, timeout=ALL_ANSWERED_TIMEOUT),
        "the bot did not answer a third of the updates",
    )
    assert await stop(first) == 0, first.log()
    assert "Traceback" not in first.log(), first.log()
    answered_before = len([c for c in api.calls_of("sendMessage") if delivered(c)])
    assert answered_before < UPDATES, "SIGTERM came too late to test anything"

    since = len(api.calls)
    second = await start_bot("run", **env)
    await second.expect(
        api.wait_for("sendMessage", delivered, count=UPDATES, timeout=ALL_ANSWERED_TIMEOUT),
        "not every update was answered after the restart",
    )
    last_id = max(update["update_id"] for update in pushed)
    # The first process may have confirmed the last update already (each fetched batch goes to
    # the update inbox at once): any process's getUpdates past it will do.
    await drained_and_stopped(api, second, last_id, 0)

    # A restart before the offset was confirmed: the server hands out answered updates again.
    for update in pushed[-REDELIVERED:]:
        api.push_update(update)
    since = len(api.calls)
    third = await start_bot("run", **env)
    await drained_and_stopped(api, third, last_id, since)
    skipped = third.log_path.read_text(errors="replace").count("stored before; skipped")
    assert skipped == REDELIVERED, third.log()

    per_chat = collections.Counter(
        c.params["chat_id"] for c in api.calls_of("sendMessage") if delivered(c)
    )
    assert len(per_chat) == UPDATES
    twice = {chat: n for chat, n in per_chat.items() if n != 1}
    assert twice == {}, f"answered more than once: {list(twice.items())[:10]}"
    assert [c.error_code for c in api.errors] == []
