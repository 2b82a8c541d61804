"""Each update is handled once, shutdown lets handlers finish, a flooding user is slowed down.

The stories run through the real dispatcher (``tests.harness``) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import Any

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import Message, Update
from aiogram.utils.i18n import gettext
from sqlalchemy import func, select, update

from bot.db.base import utcnow
from bot.db.models import Question, User
from bot.db.models.reliability import InboxUpdate, ProcessedUpdate
from bot.i18n import use_locale
from bot.inbox import Inbox
from bot.ledger import UpdateLedger
from bot.metrics import Metrics, metrics
from bot.middlewares.flood import MemoryFloodCounter, RedisFloodCounter, Verdict, flood_notice
from bot.reliability import Reliability
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser


def update_of(harness: Harness, update_id: int, text: str, user: TgUser = STUDENT) -> Update:
    payload = {"update_id": update_id, "message": harness.message_payload(user, text=text)}
    return Update.model_validate(payload, context={"bot": harness.bot})


async def claims(harness: Harness) -> int:
    async with harness.ctx.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)


# ------------------------------------------------------------------ no update handled twice


async def test_a_webhook_retry_of_the_same_update_is_answered_once(harness: Harness) -> None:
    first = update_of(harness, 500, "/help")
    await harness.dp.feed_update(harness.bot, first)
    assert len(harness.session.of(SendMessage)) == 1

    # Telegram did not see our 200 in time and sends update 500 again.
    before = metrics.value("studentbot_duplicate_updates_total")
    await harness.dp.feed_update(harness.bot, update_of(harness, 500, "/help"))
    assert len(harness.session.of(SendMessage)) == 1
    assert metrics.value("studentbot_duplicate_updates_total") == before + 1
    assert await claims(harness) == 1


async def test_after_a_restart_an_unconfirmed_update_is_not_answered_again(
    harness: Harness,
) -> None:
    await harness.dp.feed_update(harness.bot, update_of(harness, 77, "/help"))
    restarted = await harness.restart()
    await restarted.dp.feed_update(restarted.bot, update_of(restarted, 77, "/help"))
    await restarted.dp.feed_update(restarted.bot, update_of(restarted, 78, "/help"))
    assert len(harness.session.of(SendMessage)) == 1
    assert len(restarted.session.of(SendMessage)) == 1  # update 78 only


async def test_two_dispatchers_racing_on_one_update_answer_it_once(
    harness: Harness,
) -> None:
    """Two processes (here: two dispatchers on one database) get the same update at once."""
    other = await Harness.create(harness.ctx.settings.database_url)
    try:
        for update_id in range(1000, 1020):
            await asyncio.gather(
                harness.dp.feed_update(harness.bot, update_of(harness, update_id, "/help")),
                other.dp.feed_update(other.bot, update_of(other, update_id, "/help")),
            )
        sent = len(harness.session.of(SendMessage)) + len(other.session.of(SendMessage))
        assert sent == 20
    finally:
        await other.close()


async def test_a_new_users_first_updates_arriving_together_are_all_answered(
    harness: Harness,
) -> None:
    """A new student's first messages handled at the same time: no update fails on the key."""
    newcomer = TgUser(id=777_001, first_name="Aruzhan", language_code="ru")
    texts = ["/help", "Можно ли учиться онлайн?", "сколько кредитов дистанционно?", "/help"]
    updates = [update_of(harness, 900 + i, text, newcomer) for i, text in enumerate(texts)]
    await asyncio.gather(*(harness.dp.feed_update(harness.bot, u) for u in updates))
    sent = [m.text for m in harness.session.of(SendMessage) if m.chat_id == newcomer.id]
    with use_locale(harness.ctx.i18n, "ru"):
        failure = gettext("Something went wrong on my side. Please try again in a minute.")
    assert failure not in sent
    assert len(sent) == len(texts)
    async with harness.ctx.sessionmaker() as session:
        rows = await session.scalars(select(User).where(User.id == newcomer.id))
        assert [u.first_name for u in rows] == ["Aruzhan"]


async def test_old_claims_are_pruned_and_recent_ones_kept(harness: Harness) -> None:
    ledger = UpdateLedger(harness.ctx.sessionmaker, retention=timedelta(hours=48))
    assert await ledger.claim(1, 10)
    assert await ledger.claim(1, 11)
    assert not await ledger.claim(1, 10)
    assert await ledger.claim(2, 10)  # another bot's update 10 is another update
    async with harness.ctx.sessionmaker() as session:
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_id == 10)
            .values(claimed_at=utcnow() - timedelta(days=3))
        )
        await session.commit()
    assert await ledger.prune() == 2
    assert await claims(harness) == 1
    assert not await ledger.claim(1, 11)


async def test_the_inbox_leases_at_most_the_limit_oldest_first_and_each_row_once(
    harness: Harness,
) -> None:
    """The claim is one UPDATE … RETURNING (issue 18); on PostgreSQL its rows are picked once
    (``IN (… LIMIT n FOR UPDATE SKIP LOCKED)`` took every pending row there)."""
    inbox = Inbox(harness.ctx.sessionmaker, lease_seconds=60)
    other = Inbox(harness.ctx.sessionmaker, lease_seconds=60, owner="other process")
    await inbox.store(7, [{"update_id": i} for i in (5, 1, 4, 2, 3)])
    await inbox.store(7, [{"update_id": i} for i in (4, 6)], poison={6: "unparsable"})
    assert await inbox.pending(7) == 5  # the repeated 4 stored once, the poison one not pending
    first = await inbox.claim(7, 2)
    assert [(c.update_id, c.attempt, c.payload) for c in first] == [
        (1, 1, {"update_id": 1}),
        (2, 1, {"update_id": 2}),
    ]
    assert [c.update_id for c in await other.claim(7, 10)] == [3, 4, 5]  # leased ones skipped
    assert await inbox.claim(7, 10) == []
    await inbox.release(7, 2)
    again = await inbox.claim(7, 10)
    assert [(c.update_id, c.attempt) for c in again] == [(2, 2)]  # taken again: attempt 2
    async with harness.ctx.sessionmaker() as session:
        await Inbox.mark_done(session, 7, 1)
        await session.commit()
    assert await inbox.pending(7) == 4
    # A lease that ran out (its process died) is taken again.
    async with harness.ctx.sessionmaker() as session:
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == 3)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert [(c.update_id, c.attempt) for c in await inbox.claim(7, 10)] == [(3, 2)]


async def test_a_full_load_through_the_inbox_keeps_its_connections_open(database_url: str) -> None:
    """Issue 18: with as many updates in flight as the bot allows, each holds a connection; a
    pool smaller than that closed every connection beyond it when it came back and opened a
    new one for the next update (a third of the CPU per update). The second burst opens
    none, and every question is answered."""
    from sqlalchemy import event

    from bot.pipeline import Pipeline

    harness = await Harness.create(database_url, max_concurrent_updates=32)
    opened = 0

    def count(*_: Any) -> None:
        nonlocal opened
        opened += 1

    event.listen(harness.ctx.engine.sync_engine.pool, "connect", count)
    inbox = harness.dp["reliability"].inbox
    pipeline = Pipeline(harness.dp, harness.bot, inbox, limit=32, poll_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(pipeline.run(stop))
    users = [TgUser(id=7000 + i, first_name=f"S{i}", language_code="en") for i in range(32)]
    update_ids = iter(range(1, 1000))
    try:
        for burst in range(2):
            before = opened
            batch = [
                {
                    "update_id": next(update_ids),
                    "message": harness.message_payload(user, text="How is the final exam held?"),
                }
                for user in users
            ]
            await inbox.store(harness.bot.id, batch)
            pipeline.notify()
            await pipeline.wait_idle()
            if burst == 1:
                assert opened == before, f"{opened - before} connections opened in the 2nd burst"
    finally:
        stop.set()
        await running
        await harness.close()
    answered = [r for r in harness.session.requests if isinstance(r, SendMessage)]
    assert len({r.chat_id for r in answered}) == 32 and len(answered) >= 64


@pytest.mark.postgres
async def test_on_postgresql_the_inbox_claim_and_done_mark_open_no_transaction(
    postgres_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: a claim, a done-mark and a question answered with a clause (stored before
    the reply, nothing queued for staff) are one statement each; in autocommit they spare
    asyncpg's BEGIN and COMMIT round trips, so a known student's question through the inbox
    opens no transaction at all."""
    import asyncpg

    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (set TEST_POSTGRES_URL)")
    from tests.conftest import _truncate_pg

    await _truncate_pg(postgres_url)
    harness = await Harness.create(postgres_url)
    begun = 0
    start = asyncpg.transaction.Transaction.start

    async def counted(self: Any) -> None:
        nonlocal begun
        begun += 1
        await start(self)

    monkeypatch.setattr(asyncpg.transaction.Transaction, "start", counted)
    inbox: Inbox = harness.dp["reliability"].inbox
    try:
        for update_id in (1, 2):
            payload = {
                "update_id": update_id,
                "message": harness.message_payload(STUDENT, text="How is the final exam held?"),
            }
            await inbox.store(harness.bot.id, [payload])
            begun = 0
            (row,) = await inbox.claim(harness.bot.id, 10)
            assert begun == 0, "the claim opened a transaction"
            update = Update.model_validate(row.payload, context={"bot": harness.bot})
            await harness.dp.feed_update(harness.bot, update, inbox_attempt=row.attempt)
        assert begun == 0, f"{begun} transactions for a known student's question"
        async with harness.ctx.sessionmaker() as session:
            asked = list(await session.scalars(select(Question.kind)))
        assert asked == ["answer", "answer"]  # both stored
        assert await inbox.pending(harness.bot.id) == 0
        assert len(harness.session.of(SendMessage)) == 2
    finally:
        await harness.close()


# ------------------------------------------------------------------ shutdown drain


def add_slow_command(harness: Harness, started: asyncio.Event, release: asyncio.Event) -> None:
    """A /slow command that waits for ``release``, tried before every other router."""
    router = Router(name="slow")

    @router.message(Command("slow"))
    async def slow(message: Message) -> None:
        started.set()
        await release.wait()
        await message.answer("done")

    harness.dp.include_router(router)
    harness.dp.sub_routers.insert(0, harness.dp.sub_routers.pop())


async def test_shutdown_waits_for_a_handler_in_flight(sqlite_url: str) -> None:
    harness = await Harness.create(sqlite_url)
    started, release = asyncio.Event(), asyncio.Event()
    add_slow_command(harness, started, release)
    reliability: Reliability = harness.dp["reliability"]
    try:
        task = asyncio.create_task(
            harness.dp.feed_update(harness.bot, update_of(harness, 1, "/slow"))
        )
        async with asyncio.timeout(10):
            await started.wait()
        drain = asyncio.create_task(reliability.drain(10, {task}))
        await asyncio.sleep(0)
        assert not drain.done()  # still waiting for the handler
        release.set()
        assert await drain is True
        assert harness.last_text() == "done"
        assert reliability.draining
    finally:
        await harness.close()


async def test_shutdown_lets_a_background_job_finish_the_step_in_hand(sqlite_url: str) -> None:
    """Workers are asked to stop, not cancelled mid-step (a delivery half recorded); one that
    does not stop in time is cancelled."""
    from bot.runner import BackgroundWorkers

    harness = await Harness.create(sqlite_url)
    helpdesk, reminders = harness.ctx.services.helpdesk, harness.ctx.services.reminders
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def long_check(bot: Any, now: Any = None) -> list[int]:
        started.set()
        await release.wait()
        finished.append("sla")
        return []

    async def stuck_tick() -> None:
        await asyncio.Event().wait()  # never returns

    helpdesk.check_sla = long_check
    reminders.tick = stuck_tick
    workers = BackgroundWorkers(harness.ctx)
    try:
        await workers.start(harness.bot)
        async with asyncio.timeout(10):
            await started.wait()
        stopping = asyncio.create_task(workers.stop(within=2))
        await asyncio.sleep(0)
        assert not stopping.done()  # waiting for the SLA check in hand
        release.set()
        async with asyncio.timeout(10):
            await stopping
        assert finished == ["sla"]  # finished, not cut off
        assert workers.tasks == []
    finally:
        await harness.close()


async def test_a_handler_cut_off_at_the_timeout_is_handled_again_after_restart(
    sqlite_url: str,
) -> None:
    harness = await Harness.create(sqlite_url)
    started, never = asyncio.Event(), asyncio.Event()
    add_slow_command(harness, started, never)
    reliability: Reliability = harness.dp["reliability"]
    try:
        task = asyncio.create_task(
            harness.dp.feed_update(harness.bot, update_of(harness, 5, "/slow"))
        )
        async with asyncio.timeout(10):
            await started.wait()
        assert await reliability.drain(0.05, {task}) is False
        assert task.cancelled()
        # The claim was released: the redelivered update is handled by the next process.
        assert await claims(harness) == 0
        restarted = await harness.restart()
        await restarted.dp.feed_update(restarted.bot, update_of(restarted, 5, "/help"))
        assert len(restarted.session.of(SendMessage)) == 1
    finally:
        await harness.close()


async def test_an_inbox_update_cut_off_between_two_replies_sends_each_once_when_taken_again(
    database_url: str,
) -> None:
    """The first reply's record is stored before the second call; when the update is taken
    again the first is answered from it and only the second is made. An update handled to the
    end keeps no records: its last commit marks it done, and a done update is never taken
    again (issue 18)."""
    from bot.db.models.reliability import UpdateCall

    harness = await Harness.create(database_url)
    started, release = asyncio.Event(), asyncio.Event()
    router = Router(name="two replies")

    @router.message(Command("two"))
    async def two(message: Message) -> None:
        await message.answer("one")
        started.set()
        await release.wait()
        await message.answer("two")

    harness.dp.include_router(router)
    harness.dp.sub_routers.insert(0, harness.dp.sub_routers.pop())
    inbox: Inbox = harness.dp["reliability"].inbox
    bot_id = harness.bot.id

    async def take() -> int:
        (row,) = await inbox.claim(bot_id, 10)
        update = Update.model_validate(row.payload, context={"bot": harness.bot})
        task = asyncio.create_task(
            harness.dp.feed_update(harness.bot, update, inbox_attempt=row.attempt)
        )
        await asyncio.wait(
            {task, asyncio.ensure_future(started.wait())},
            timeout=10,
            return_when=asyncio.FIRST_COMPLETED,
        )
        return row.attempt, task

    async def records() -> list[tuple[int, str]]:
        async with harness.ctx.sessionmaker() as session:
            rows = await session.execute(select(UpdateCall.update_id, UpdateCall.method))
            return sorted((update_id, method) for update_id, method in rows)

    try:
        payload = {"update_id": 41, "message": harness.message_payload(STUDENT, text="/two")}
        await inbox.store(bot_id, [payload])
        attempt, task = await take()
        assert attempt == 1 and started.is_set()
        task.cancel()  # shutdown cuts the handler off while it waits
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [m.text for m in harness.session.of(SendMessage)] == ["one"]
        assert await records() == [(41, "sendMessage")]
        started.clear()
        release.set()
        attempt, task = await take()
        await task
        assert attempt == 2
        assert [m.text for m in harness.session.of(SendMessage)] == ["one", "two"]
        assert await inbox.pending(bot_id) == 0
        # Handled to the end in one go: done, and no record kept of its reply.
        await inbox.store(
            bot_id, [{"update_id": 42, "message": harness.message_payload(STUDENT, text="/help")}]
        )
        attempt, task = await take()
        await task
        assert len(harness.session.of(SendMessage)) == 3
        assert await inbox.pending(bot_id) == 0
        assert await records() == [(41, "sendMessage")]
    finally:
        await harness.close()


async def test_a_reply_in_progress_when_shutdown_cuts_its_handler_off_is_sent_once_and_recorded(
    database_url: str,
) -> None:
    """The handler is cancelled while its reply is in the air: the reply's call goes on to its
    end (tracked for the drain) and is recorded, so the update, taken again, does not send it
    twice; what the handler does after the reply is done then."""
    from aiogram.methods import TelegramMethod

    from bot.db.models.reliability import UpdateCall

    harness = await Harness.create(database_url)
    in_call, let_through, after_reply = asyncio.Event(), asyncio.Event(), asyncio.Event()
    router = Router(name="reply in progress")

    @router.message(Command("hold"))
    async def hold(message: Message) -> None:
        await message.answer("held")
        after_reply.set()

    async def slow_telegram(make_request: Any, bot: Any, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage) and not let_through.is_set():
            in_call.set()
            await let_through.wait()
        return await make_request(bot, method)

    harness.bot.session.middleware(slow_telegram)  # inside CallLog: the call itself is slow
    harness.dp.include_router(router)
    harness.dp.sub_routers.insert(0, harness.dp.sub_routers.pop())
    reliability: Reliability = harness.dp["reliability"]
    inbox: Inbox = reliability.inbox
    bot_id = harness.bot.id

    async def take() -> tuple[int, asyncio.Task[Any]]:
        (row,) = await inbox.claim(bot_id, 10)
        update = Update.model_validate(row.payload, context={"bot": harness.bot})
        task = asyncio.create_task(
            harness.dp.feed_update(harness.bot, update, inbox_attempt=row.attempt)
        )
        return row.attempt, task

    try:
        payload = {"update_id": 61, "message": harness.message_payload(STUDENT, text="/hold")}
        await inbox.store(bot_id, [payload])
        attempt, task = await take()
        async with asyncio.timeout(10):
            await in_call.wait()
        task.cancel()  # shutdown cuts the handler off while its reply is in the air
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled() and not after_reply.is_set()
        calls = set(reliability.middleware.call_tasks)
        assert len(calls) == 1  # the drain lets it finish
        let_through.set()
        await asyncio.wait(calls, timeout=10)
        assert not reliability.middleware.call_tasks
        assert [m.text for m in harness.session.of(SendMessage)] == ["held"]
        async with harness.ctx.sessionmaker() as session:
            recorded = (
                await session.execute(select(UpdateCall.update_id, UpdateCall.method))
            ).all()
        assert [tuple(row) for row in recorded] == [(61, "sendMessage")]
        attempt, task = await take()
        await task
        assert attempt == 2 and after_reply.is_set()
        assert [m.text for m in harness.session.of(SendMessage)] == ["held"]  # not sent again
        assert await inbox.pending(bot_id) == 0
    finally:
        await harness.close()


# ------------------------------------------------------------------ flood control


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_flood_counter_allows_the_limit_then_notifies_once_then_drops() -> None:
    clock = FakeClock()
    counter = MemoryFloodCounter(limit=3, window=5, clock=clock)
    verdicts = [await counter.hit(1) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY, Verdict.DROP, Verdict.DROP]
    assert await counter.hit(2) is Verdict.ALLOW  # someone else is not affected
    clock.now += 5.01
    assert await counter.hit(1) is Verdict.ALLOW
    assert [await counter.hit(1) for _ in range(3)] == [Verdict.ALLOW] * 2 + [Verdict.NOTIFY]


async def test_flood_counter_forgets_users_who_went_quiet() -> None:
    """Counts are kept for the users of the last window, not for everyone who ever wrote."""
    clock = FakeClock()
    counter = MemoryFloodCounter(limit=3, window=5, clock=clock)
    for user_id in range(5000):
        assert await counter.hit(user_id) is Verdict.ALLOW
    clock.now += 10
    assert await counter.hit(99_999) is Verdict.ALLOW
    assert len(counter._hits) == 1
    # A flooder who is still within the window keeps being slowed down.
    for _ in range(3):
        await counter.hit(7)
    assert await counter.hit(7) is Verdict.NOTIFY
    clock.now += 6
    assert await counter.hit(8) is Verdict.ALLOW  # a sweep runs; 7's hits are all old now
    assert await counter.hit(7) is Verdict.ALLOW


async def test_flood_counter_in_redis_is_shared_between_processes(redis_url: str) -> None:
    from redis.asyncio import Redis

    user_id = int(time.time() * 1000) % 1_000_000_000  # fresh keys for this run
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    try:
        first, second = (RedisFloodCounter(c, 4, 5.0, time.time) for c in clients)
        verdicts = []
        for i in range(7):
            counter = first if i % 2 == 0 else second  # alternate "processes"
            verdicts.append(await counter.hit(user_id))
        assert verdicts == [Verdict.ALLOW] * 4 + [Verdict.NOTIFY, Verdict.DROP, Verdict.DROP]
        assert await first.hit(user_id + 1) is Verdict.ALLOW
    finally:
        for client in clients:
            await client.delete(
                f"studentbot:flood:{user_id}", f"studentbot:flood-notice:{user_id}"
            )
            await client.delete(f"studentbot:flood:{user_id + 1}")
            await client.aclose()


async def test_a_student_flooding_the_bot_gets_one_polite_notice_others_are_served(
    database_url: str,
) -> None:
    harness = await Harness.create(database_url, flood_limit=5, flood_window=60)
    try:
        for _ in range(12):
            await harness.send("/help", user=STUDENT_RU)
        to_flooder = harness.texts(STUDENT_RU.id)
        assert len(to_flooder) == 6  # five answers and one notice
        with use_locale(harness.ctx.i18n, "ru"):
            notice = flood_notice()
        with use_locale(harness.ctx.i18n, "en"):
            assert notice != flood_notice()  # translated
        assert to_flooder[:5] == [to_flooder[0]] * 5
        assert to_flooder[5] == notice

        # Everyone else is answered at once.
        await harness.send("/help", user=STUDENT_EN)
        assert "/rules" in harness.last_text(STUDENT_EN.id)
        # Button presses of the flooder are answered (the spinner stops) but not handled.
        await harness.click("lang:en", user=STUDENT_RU)
        assert isinstance(harness.session.requests[-1], AnswerCallbackQuery)
        async with harness.ctx.sessionmaker() as session:
            user = await session.get(User, STUDENT_RU.id)
            assert user is not None and user.language is None
    finally:
        await harness.close()


async def test_flood_control_off_when_the_limit_is_zero(sqlite_url: str) -> None:
    harness = await Harness.create(sqlite_url, flood_limit=0)
    try:
        for _ in range(30):
            await harness.send("/help")
        assert len(harness.texts(STUDENT.id)) == 30
    finally:
        await harness.close()


# ------------------------------------------------------------------ metrics


async def test_metrics_count_updates_answers_and_latency(sqlite_url: str) -> None:
    harness = await Harness.create(sqlite_url)
    try:
        updates = metrics.value("studentbot_updates_total", type="message")
        answers = metrics.value("studentbot_answers_total", method="sendMessage")
        observed = metrics.value("studentbot_handler_seconds_count")
        await harness.send("/help")
        await harness.send("/language")
        assert metrics.value("studentbot_updates_total", type="message") == updates + 2
        assert metrics.value("studentbot_answers_total", method="sendMessage") == answers + 2
        assert metrics.value("studentbot_handler_seconds_count") == observed + 2
    finally:
        await harness.close()


def test_metrics_render_in_prometheus_text_format() -> None:
    own = Metrics()
    own.handoffs.inc()
    own.broadcast_deliveries.inc(3)
    own.errors.labels(kind="handler").inc()
    text = own.render().decode()
    for line in (
        "studentbot_handoffs_total 1.0",
        "studentbot_broadcast_deliveries_total 3.0",
        'studentbot_errors_total{kind="handler"} 1.0',
        "# TYPE studentbot_handler_seconds histogram",
        'studentbot_updates_total{type="message"} 0.0',
    ):
        assert line in text, line
    assert "_created" not in text
