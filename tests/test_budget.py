"""The bot's outgoing budget (issue 19): replies first, broadcasts take what is left, a 429
pauses the class that met it, per-chat limits, the same rules in Redis for every process."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import EditMessageText, SendMessage

from bot.budget import (
    BACKGROUND_ASKERS,
    CHAT_429_LOAD,
    CHAT_GAP,
    IN_FLIGHT_WAIT,
    STAND_ASIDE,
    ChatRule,
    Limits,
    MemoryStore,
    OutgoingBudget,
    RedisStore,
    SendClass,
    chat_rule,
    expected_replies,
    install_budget,
    sending_as,
)
from bot.db.models import User
from bot.services.broadcast import create_broadcast
from devtools.fake_botapi import FakeBotAPI
from tests.harness import STUDENT, Harness
from tests.test_reminders_support import FakeClock, budget_on, make_user, services

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(rate=10, window=1.1, base_reserve=1, demand_window=3.0, low_interval=0.0)
BOT = 4242


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[MemoryStore | RedisStore]:
    if request.param == "memory":
        yield MemoryStore(ManualClock())
        return
    from redis.asyncio import Redis

    url = request.getfixturevalue("redis_url")
    redis = Redis.from_url(url)
    prefix = f"test-budget-{uuid.uuid4().hex[:8]}"
    yield RedisStore(redis, prefix=prefix)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def fill(store: MemoryStore | RedisStore, cls: SendClass, limits: Limits = LIMITS) -> int:
    taken = 0
    while (await store.take(BOT, cls, 1, limits, None, f"w{cls}-{taken}")).granted:
        taken += 1
        assert taken <= limits.rate
    return taken


async def test_a_reply_is_not_held_behind_a_full_broadcast_window(
    store: MemoryStore | RedisStore,
) -> None:
    # A broadcast takes what it may: everything but the headroom kept for replies ...
    assert await fill(store, SendClass.BROADCAST) == LIMITS.rate - LIMITS.base_reserve
    # ... so a student's answer goes out at once, and the broadcast waits behind it.
    assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "r1")).granted
    refused = await store.take(BOT, SendClass.BROADCAST, 1, LIMITS, None, "b")
    assert not refused.granted and refused.wait > 0


async def test_replies_already_in_the_window_are_not_reserved_twice(
    store: MemoryStore | RedisStore,
) -> None:
    # Four answers just went out: they are in the window, and the demand they show (four in
    # the last three seconds: about two a window) is already met by them. A broadcast takes
    # everything else but the base headroom (counting them twice starved broadcasts).
    for n in range(4):
        assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, f"r{n}")).granted
    assert expected_replies(4, 4, LIMITS) == 0
    taken = await fill(store, SendClass.BROADCAST)
    assert taken == LIMITS.rate - 4 - LIMITS.base_reserve
    refused = await store.take(BOT, SendClass.BROADCAST, 1, LIMITS, None, "b")
    assert refused.reason == "window"


async def test_recent_replies_widen_the_headroom() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    for n in range(6):  # six answers a moment ago, out of the window now
        assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, f"r{n}")).granted
        await store.done(BOT, f"r{n}", 1)
    clock.now += LIMITS.window + 0.1
    demand = expected_replies(6, 0, LIMITS)
    assert demand == math.ceil(6 * LIMITS.window / LIMITS.demand_window) == 3
    # The broadcast leaves room for the answers the recent pace expects in this window.
    assert await fill(store, SendClass.BROADCAST) == LIMITS.rate - LIMITS.base_reserve - demand
    refused = await store.take(BOT, SendClass.BROADCAST, 1, LIMITS, None, "b")
    assert not refused.granted and refused.reason == "reply_reserve"
    # As answers come, the headroom they were expected to use is theirs, not reserved again.
    assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "r-new")).granted
    assert expected_replies(7, 1, LIMITS) == 2  # three expected, one of them came


async def test_a_slot_counts_until_its_call_is_answered() -> None:
    """A call held up on its way (a busy event loop, a slow network) must not let a later one
    land in the same second at Telegram: its slot stays in the window until it was answered,
    then one window from the answer."""
    clock = ManualClock()
    store = MemoryStore(clock)
    assert await fill(store, SendClass.REPLY) == LIMITS.rate
    clock.now += 5.0  # far past the window, and still not answered
    refused = await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")
    assert not refused.granted and refused.wait == IN_FLIGHT_WAIT
    for n in range(LIMITS.rate):
        await store.done(BOT, f"w{SendClass.REPLY}-{n}", 1)
    clock.now += LIMITS.window - 0.01
    assert not (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")).granted
    clock.now += 0.02
    assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")).granted


async def test_an_answered_slot_counts_from_the_answer_in_redis(
    store: MemoryStore | RedisStore,
) -> None:
    assert await fill(store, SendClass.REPLY) == LIMITS.rate
    in_flight = await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")
    assert not in_flight.granted and in_flight.wait == IN_FLIGHT_WAIT  # look again soon
    assert await store.load(BOT, LIMITS) == LIMITS.rate
    for n in range(LIMITS.rate):
        await store.done(BOT, f"w{SendClass.REPLY}-{n}", 1)
    answered = await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")
    assert not answered.granted and answered.wait > LIMITS.window / 2  # a window from now


async def test_replies_use_the_whole_window_and_then_wait(store: MemoryStore | RedisStore) -> None:
    assert await fill(store, SendClass.REPLY) == LIMITS.rate
    refused = await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "late")
    assert not refused.granted and 0 < refused.wait <= LIMITS.window + 0.01
    # The waiting reply holds background classes back even where their headroom would allow.
    held = await store.take(BOT, SendClass.BROADCAST, 1, LIMITS, None, "b")
    assert not held.granted and held.reason == "reply_waiting"
    assert held.wait == pytest.approx(STAND_ASIDE, abs=0.001)


async def test_a_429_pauses_the_class_that_met_it_and_those_below(
    store: MemoryStore | RedisStore,
) -> None:
    await store.pause(BOT, SendClass.BROADCAST, 5.0, None)
    paused = await store.take(BOT, SendClass.BROADCAST, 1, LIMITS, None, "b")
    assert not paused.granted and paused.reason == "telegram" and 4 < paused.wait <= 5.01
    assert (await store.take(BOT, SendClass.REMINDER, 1, LIMITS, None, "m")).granted
    assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "r")).granted
    await store.pause(BOT, SendClass.REPLY, 3.0, None)  # a reply's 429 stops everything
    for cls in SendClass:
        assert (await store.take(BOT, cls, 1, LIMITS, None, f"x{cls}")).reason == "telegram"


async def test_a_group_429_pauses_only_that_group(store: MemoryStore | RedisStore) -> None:
    group = chat_rule(-1001, SendClass.RELAY)
    other = chat_rule(-1002, SendClass.RELAY)
    await store.pause(BOT, SendClass.RELAY, 10.0, -1001)
    assert (await store.take(BOT, SendClass.RELAY, 1, LIMITS, group, "g1")).reason == "chat"
    assert (await store.take(BOT, SendClass.RELAY, 1, LIMITS, other, "g2")).granted
    assert (await store.take(BOT, SendClass.REPLY, 1, LIMITS, None, "r")).granted


async def test_chat_limits(store: MemoryStore | RedisStore) -> None:
    wide = Limits(rate=100, window=1.1, base_reserve=1, demand_window=3.0, low_interval=0.0)
    private = chat_rule(777, SendClass.REPLY)
    assert private is not None
    for n in range(private.limit):  # a reply may come in a short burst ...
        assert (await store.take(BOT, SendClass.REPLY, 1, wide, private, f"p{n}")).granted
    assert (await store.take(BOT, SendClass.REPLY, 1, wide, private, "p")).reason == "chat"
    # ... a broadcast message keeps one a second per chat
    once = chat_rule(778, SendClass.BROADCAST)
    assert (await store.take(BOT, SendClass.BROADCAST, 1, wide, once, "b1")).granted
    second = await store.take(BOT, SendClass.BROADCAST, 1, wide, once, "b2")
    assert second.reason == "chat" and 0.9 < second.wait <= 1.01
    group = ChatRule(-5, 20, 60.0, 0.0)  # twenty a minute in a group
    for n in range(20):
        assert (await store.take(BOT, SendClass.RELAY, 1, wide, group, f"g{n}")).granted
    assert (await store.take(BOT, SendClass.RELAY, 1, wide, group, "g")).reason == "chat"


async def test_background_senders_queue_and_a_few_ask_the_store_at_a_time() -> None:
    """Sixteen delivery workers polling the store at once burned the CPU answers needed: the
    senders of a background class queue in the process and a few ask at a time."""
    clock = FakeClock()
    store = MemoryStore(clock.monotonic)
    budget = OutgoingBudget(
        store, rate=10, broadcast_rate=1000, clock=clock.monotonic, sleep=clock.sleep
    )
    asked = 0
    take = store.take

    async def counted_take(*args: Any) -> Any:
        nonlocal asked
        asked += 1
        return await take(*args)

    store.take = counted_take  # type: ignore[method-assign]
    granted: list[int] = []

    async def send(n: int) -> None:
        slot = await budget.acquire(BOT, SendClass.BROADCAST, 10_000 + n)
        granted.append(n)
        await budget.answered(BOT, slot)

    await asyncio.gather(*(send(n) for n in range(30)))
    assert sorted(granted) == list(range(30))
    # Only the askers are refused while the window is full, each about once a window (thirty
    # senders polling would each have been refused every time).
    held = budget.stats[SendClass.BROADCAST].held
    windows = math.ceil(30 / (10 - 1))
    assert held["window"] <= BACKGROUND_ASKERS * windows
    assert asked == 30 + sum(held.values())
    assert budget.stats[SendClass.BROADCAST].waited["queue"] > 0


async def test_background_senders_queue_only_for_the_budget_not_for_one_chat() -> None:
    clock = FakeClock()
    budget = OutgoingBudget(
        MemoryStore(clock.monotonic), broadcast_rate=1000, clock=clock.monotonic,
        sleep=clock.sleep,
    )  # fmt: skip
    first = await budget.acquire(BOT, SendClass.REMINDER, 555)
    await budget.answered(BOT, first)
    order: list[int] = []

    async def send(chat: int) -> None:
        slot = await budget.acquire(BOT, SendClass.REMINDER, chat)
        order.append(chat)
        await budget.answered(BOT, slot)

    started = clock.mono
    await asyncio.gather(send(555), send(556), send(557))  # 555 must wait a second: its gap
    assert order == [556, 557, 555] and clock.mono - started >= CHAT_GAP - 0.01


# Through the bot's session --------------------------------------------------------------------


def retry_after(seconds: int) -> TelegramRetryAfter:
    method = SendMessage(chat_id=1, text="x")
    return TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=seconds)


async def test_429_on_a_broadcast_pauses_broadcasts_not_answers(harness: Harness) -> None:
    clock = FakeClock()
    budget = budget_on(harness, clock)
    with sending_as(SendClass.BROADCAST):  # a busy window: the 429 may be the global limit
        for n in range(int(budget.limits.rate * CHAT_429_LOAD) + 1):
            await harness.bot.send_message(7000 + n, "announcement")
    harness.session.fail_next("sendMessage", retry_after(9))
    with pytest.raises(TelegramRetryAfter), sending_as(SendClass.BROADCAST):
        await harness.bot.send_message(5001, "announcement")
    started = clock.mono
    await harness.send("/help")  # the student's answer is not held by the broadcasts' pause
    assert harness.last_text(STUDENT.id) and clock.mono == started
    with sending_as(SendClass.BROADCAST):
        await harness.bot.send_message(5002, "announcement")  # another chat waits too
    assert clock.mono - started >= 9.0
    assert budget.stats[SendClass.BROADCAST].retry_after == 1
    assert budget.slowdown(SendClass.BROADCAST, 30.0) == "telegram"


async def test_429_to_a_private_chat_in_a_quiet_window_pauses_only_that_chat(
    harness: Harness,
) -> None:
    """The bot's own window was far from full, so the 429 was the chat's limit: the other
    recipients of the broadcast do not wait for it."""
    clock = FakeClock()
    budget = budget_on(harness, clock)
    harness.session.fail_next("sendMessage", retry_after(9))
    with pytest.raises(TelegramRetryAfter), sending_as(SendClass.BROADCAST):
        await harness.bot.send_message(5001, "announcement")
    started = clock.mono
    with sending_as(SendClass.BROADCAST):
        await harness.bot.send_message(5002, "announcement")
    assert clock.mono - started < 1.0
    with sending_as(SendClass.BROADCAST):
        await harness.bot.send_message(5001, "announcement")  # that chat waits its pause
    assert clock.mono - started >= 9.0
    assert budget.stats[SendClass.BROADCAST].held["chat"] >= 1
    assert budget.slowdown(SendClass.BROADCAST, 30.0) is None  # nothing to tell the sender


async def test_a_slot_counts_from_the_answer_once_the_call_returned_or_failed(
    harness: Harness,
) -> None:
    clock = FakeClock()
    budget = budget_on(harness, clock)
    await harness.send("/help")
    harness.session.fail_next("sendMessage", TelegramServerError(method=SendMessage(
        chat_id=1, text="x"), message="Bad Gateway"))  # fmt: skip
    with pytest.raises(TelegramServerError):
        await harness.bot.send_message(5001, "x")
    slots = budget.store.log[harness.bot.id]  # type: ignore[union-attr]
    assert len(slots) >= 2 and all(at <= clock.mono for at in slots.values())


async def test_429_on_an_answer_is_sent_again_after_the_pause(harness: Harness) -> None:
    clock = FakeClock()
    budget = budget_on(harness, clock)
    harness.session.fail_next("sendMessage", retry_after(3))
    started = clock.mono
    await harness.send("/help")
    assert harness.last_text(STUDENT.id)  # delivered on the second attempt
    assert clock.mono - started >= 3.0
    assert budget.stats[SendClass.REPLY].retry_after == 1


async def test_a_reply_is_not_delayed_behind_a_running_broadcast(harness: Harness) -> None:
    for i in range(80):
        await make_user(harness, 6000 + i)
    await make_user(harness, 9999, role="staff", lang="en")
    budget = OutgoingBudget(MemoryStore())  # real time: 30 in any 1.1 s
    install_budget(harness.bot, budget)
    broadcasts, _ = services(harness, FakeClock(), concurrency=4)
    busy = asyncio.Event()
    sent: list[int] = []

    def on_request(method: object, _result: object) -> None:
        if isinstance(method, SendMessage) and int(method.chat_id) >= 6000:
            sent.append(int(method.chat_id))
            if len(sent) == 40:  # the window is full of broadcast messages by now
                busy.set()

    harness.session.on_request = on_request
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, 9999)
        assert sender is not None
        await create_broadcast(session, sender=sender, text="news", audience={})
    delivery = asyncio.create_task(broadcasts.drain(harness.bot))
    await asyncio.wait_for(busy.wait(), 60)
    loop = asyncio.get_running_loop()
    asked = loop.time()
    await harness.send("/help")
    answered = loop.time() - asked
    assert harness.last_text(STUDENT.id)
    assert len(sent) < 80  # the broadcast was still going
    assert not budget.stats[SendClass.REPLY].held  # the answer never waited for a slot
    await asyncio.wait_for(delivery, 120)
    assert sorted(sent) == [6000 + i for i in range(80)]
    assert answered < 1.0


# Two processes, one budget ----------------------------------------------------------------------

SENDER = """
import asyncio, sys
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from redis.asyncio import Redis
from bot.budget import OutgoingBudget, RedisStore, SendClass, install_budget, sending_as

async def main(api, redis_url, prefix, first, n):
    bot = Bot("123456:" + "D" * 35, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    budget = OutgoingBudget(RedisStore(Redis.from_url(redis_url), prefix=prefix))
    install_budget(bot, budget)
    async def one(chat):
        with sending_as(SendClass.BROADCAST):
            await bot.send_message(chat, "news")
    try:
        await asyncio.gather(*(one(first + i) for i in range(n)))
    finally:
        await bot.session.close()
        await budget.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
"""


async def test_two_processes_share_one_budget_through_redis(redis_url: str) -> None:
    per_process = 45
    prefix = f"test-budget-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    async with FakeBotAPI(rate_limit_per_second=30, chat_limit=(1, 1.0)) as api:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", SENDER, api.base_url, redis_url, prefix,
                str(100_000 + 1000 * k), str(per_process), env=env,
            )
            for k in range(2)
        ]  # fmt: skip
        codes = await asyncio.gather(*(p.wait() for p in procs))
        assert codes == [0, 0]
        sends = [c for c in api.calls if c.method == "sendMessage"]
        assert api.rate_limited == 0  # each process alone would have sent 30 a second
        assert len({c.params["chat_id"] for c in sends if c.error_code is None}) == 90
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


# What the sender sees -------------------------------------------------------------------------


async def _progress_broadcast(harness: Harness, sender_id: int) -> int:
    async with harness.ctx.sessionmaker() as session, session.begin():
        sender = await session.get(User, sender_id)
        assert sender is not None
        b = await create_broadcast(session, sender=sender, text="x", audience={})
        b.progress_chat_id, b.progress_message_id = sender_id, 77
        return b.id


async def test_progress_is_in_the_senders_telegram_language_when_none_is_stored(
    harness: Harness,
) -> None:
    for i in range(3):
        await make_user(harness, 8400 + i)
    await make_user(harness, 9001, role="admin", lang=None)
    async with harness.ctx.sessionmaker() as session, session.begin():
        admin = await session.get(User, 9001)
        assert admin is not None
        admin.telegram_language = "en-GB"
    broadcasts, _ = services(harness, FakeClock(), progress_interval=0.0)
    await _progress_broadcast(harness, 9001)
    await broadcasts.drain(harness.bot)
    edits = [m.text for m in harness.session.of(EditMessageText)]
    assert edits and all("Sent:" in text for text in edits), edits  # not Kazakh (the default)
    assert "finished" in edits[-1]


async def test_progress_says_the_broadcast_waits_for_student_replies(harness: Harness) -> None:
    await make_user(harness, 8500)
    await make_user(harness, 9002, role="staff", lang="ru")
    clock = FakeClock()
    budget = budget_on(harness, clock, rate=4)
    broadcasts, _ = services(harness, clock, progress_interval=5.0)
    await _progress_broadcast(harness, 9002)
    for _ in range(3):  # answers in the last seconds: the room the next ones are expected to need
        await harness.send("/help")
    clock.advance(budget.limits.window + 0.1)
    with sending_as(SendClass.BROADCAST):
        for chat in (8500, 8501, 8502):
            await harness.bot.send_message(chat, "news")
    assert budget.stats[SendClass.BROADCAST].held["reply_reserve"] >= 1
    await broadcasts.hold_leases()  # this process sends it, so it reports its progress
    await broadcasts.report_progress(harness.bot)
    [edit] = harness.session.of(EditMessageText)
    assert "Рассылка замедлена: сначала отвечаем студентам." in edit.text


@pytest.mark.parametrize(
    ("lang", "paused", "slowed", "telegram"),
    [
        (
            "kk",
            "⏸ Тарату уақытша тоқтатылды: алдымен студенттерге жауап беріледі.",
            "🐢 Тарату баяулады: алдымен студенттерге жауап беріледі.",
            "⏸ Тоқтатылды: Telegram ботты күтуді сұрады.",
        ),
        (
            "ru",
            "⏸ Рассылка приостановлена: сначала отвечаем студентам.",
            "🐢 Рассылка замедлена: сначала отвечаем студентам.",
            "⏸ Приостановлено: Telegram попросил бота подождать.",
        ),
        (
            "en",
            "⏸ Paused for student replies: answers to students go first.",
            "🐢 Slowed down for student replies: answers to students go first.",
            "⏸ Paused: Telegram asked the bot to wait.",
        ),
    ],
)
async def test_slowdown_reasons_in_each_language(
    harness: Harness, lang: str, paused: str, slowed: str, telegram: str
) -> None:
    from bot.db.models.broadcasts import Broadcast
    from bot.i18n import use_locale
    from bot.views.broadcast import progress_text

    broadcasts, _ = services(harness, FakeClock())
    b = Broadcast(id=1, kind="message", text="x", audience={}, status="sending", total=10)
    with use_locale(broadcasts.i18n, lang):
        for reason, line in (("paused_replies", paused), ("slowed_replies", slowed)):
            assert line in progress_text(
                b, {"sent": 3}, now=broadcasts.now(), final=False, slowdown=reason
            )
        assert telegram in progress_text(
            b, {}, now=broadcasts.now(), final=False, slowdown="telegram"
        )
        assert "⏸" not in progress_text(b, {}, now=broadcasts.now(), final=False)


async def test_worker_backs_off_and_logs_once_while_the_database_is_down(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    broadcasts, _ = services(harness, FakeClock(), idle_interval=1.0, max_idle_backoff=10.0)
    outcomes: list[BaseException | int] = [
        *(OperationalError("SELECT 1", {}, ConnectionRefusedError()) for _ in range(6)),
        0,
    ]
    waits: list[float] = []

    async def step(bot: object) -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def idle(seconds: float) -> None:
        waits.append(seconds)
        if not outcomes:
            broadcasts.request_stop()

    broadcasts.step = step  # type: ignore[method-assign]
    broadcasts._idle = idle  # type: ignore[method-assign]
    with caplog.at_level("INFO", logger="bot.services.broadcast"):
        await broadcasts.run_forever(harness.bot)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 1.0]  # doubling, capped, then idle again
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is not None  # one traceback per outage
    assert any("works again after 6" in r.getMessage() for r in caplog.records)
