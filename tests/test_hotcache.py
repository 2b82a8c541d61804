"""Issue 18: the per-process cache of users, open tickets and FSM state never shows a student
something older than what another process wrote.

Two harnesses on one database and one Redis play two bot processes. The second one's cache is
taken off this interpreter's shortcut (every cache of a process forgets a committed write at
once), so only Redis can tell it: what a user would notice is checked after
``HotCache.sync()``, which awaits the invalidations published before it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram.methods import CopyMessage, SendMessage
from sqlalchemy import select, update

from bot import hotcache
from bot.db.models import Role, User
from bot.services.users import UserRepository
from tests.harness import STAFF_CHAT_ID, STUDENT, STUDENT_EN, Harness

WEDNESDAY_11 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # inside the helpdesk's working hours


@pytest.fixture
async def pair(database_url: str, redis_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    first = await Harness.create(database_url, redis_url=redis_url)
    second = await Harness.create(database_url, redis_url=redis_url)
    second._update_ids = itertools.count(1_000_000)  # Telegram numbers updates for the bot
    # Only Redis tells the second process about the first one's writes.
    hotcache._caches.discard(hotcache.of(second.ctx.engine))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def settle(*harnesses: Harness) -> None:
    for h in harnesses:
        await hotcache.of(h.ctx.engine).sync()


async def test_a_language_chosen_in_one_process_is_used_by_the_next_reply_of_another(
    pair: tuple[Harness, Harness],
) -> None:
    first, second = pair
    await second.send("/help", user=STUDENT)  # Kazakh (Telegram's language); user now cached
    kazakh = second.last_text(STUDENT.id)
    cache = hotcache.of(second.ctx.engine)
    assert cache.get(hotcache.USERS, STUDENT.id) is not None

    await first.send("/language", user=STUDENT)
    await first.click_button("English", user=STUDENT)
    await settle(first, second)

    assert cache.tables[hotcache.USERS].get(STUDENT.id) is None  # forgotten
    await second.send("/help", user=STUDENT)
    assert second.last_text(STUDENT.id).startswith("I answer questions")
    assert second.last_text(STUDENT.id) != kazakh


async def test_a_role_granted_elsewhere_is_the_role_of_the_next_reply(
    pair: tuple[Harness, Harness],
) -> None:
    first, second = pair
    await second.send("/help", user=STUDENT_EN)
    as_student = second.last_text(STUDENT_EN.id)

    # An admin's CLI (another process) grants the role.
    async with first.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(STUDENT_EN.id, Role.STAFF)
        await session.commit()
    await settle(first, second)

    calls = await second.send("/help", user=STUDENT_EN)
    as_staff = second.last_text(STUDENT_EN.id)
    assert as_staff != as_student  # the staff's commands are listed
    assert any(type(c).__name__ == "SetMyCommands" for c in calls)  # and the menu follows
    async with second.ctx.sessionmaker() as session:
        row = await session.get(User, STUDENT_EN.id)
        assert row is not None and row.role == Role.STAFF.value


async def test_a_bulk_update_of_users_elsewhere_forgets_them_all(
    pair: tuple[Harness, Harness],
) -> None:
    first, second = pair
    await second.send("/help", user=STUDENT_EN)
    async with first.ctx.sessionmaker() as session:
        await session.execute(update(User).values(language="ru"))
        await session.commit()
    await settle(first, second)
    await second.send("/help", user=STUDENT_EN)
    assert second.last_text(STUDENT_EN.id).startswith("Я отвечаю")


async def test_a_ticket_opened_in_one_process_takes_the_next_message_in_another(
    pair: tuple[Harness, Harness],
) -> None:
    first, second = pair
    for h in pair:
        h.ctx.services.helpdesk.clock = lambda: WEDNESDAY_11
    async with first.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(9100, Role.STAFF)
        await session.commit()
    # A question in the second process: "no open ticket" is remembered there.
    calls = await second.send("How many credits can be studied remotely?", user=STUDENT_EN)
    assert [c for c in calls if isinstance(c, SendMessage) and c.chat_id == STUDENT_EN.id]
    cache = hotcache.of(second.ctx.engine)
    assert cache.get(hotcache.TICKETS, STUDENT_EN.id)

    # The request is opened through the first process.
    await first.send("/human", user=STUDENT_EN)
    await first.click_button("Technical", user=STUDENT_EN)
    await first.send("My LMS password does not work", user=STUDENT_EN)
    await settle(first, second)

    # The second process relays the student's next message to the ticket's topic.
    calls = await second.send("Is it the same as the Platonus password?", user=STUDENT_EN)
    copied = [c for c in calls if isinstance(c, CopyMessage)]
    assert copied and copied[0].chat_id == STAFF_CHAT_ID


async def test_fsm_state_written_in_one_process_is_read_in_the_other(
    database_url: str,
) -> None:
    """Without Redis the FSM lives in the database and the process is alone; two contexts of
    one interpreter (the tests' processes) still forget each other's writes at commit."""
    first = await Harness.create(database_url)
    second = await Harness.create(database_url)
    second._update_ids = itertools.count(1_000_000)
    try:
        await second.send("/help", user=STUDENT_EN)  # state None cached in the second
        await first.send("/human", user=STUDENT_EN)  # the first enters the helpdesk wizard
        async with first.ctx.sessionmaker() as session:
            from bot.db.models import FsmRecord

            states = list(await session.scalars(select(FsmRecord.state)))
        assert any(states)
        calls = await second.send("Technical", user=STUDENT_EN)
        # In the wizard (a topic is expected), not answered as a question.
        assert not any(
            isinstance(c, SendMessage) and "Full clause" in str(c.reply_markup) for c in calls
        )
    finally:
        await first.close()
        await second.close()


def test_the_seen_hint_keeps_recent_students_in_fixed_memory() -> None:
    """A hint (a user it holds is read first, any other is tried as new): 256 KB whatever the
    number of students, the latest id of each slot kept, a forgotten one gone."""
    cache = hotcache.HotCache()
    size = cache._seen.buffer_info()[1]
    first = 50_000_000
    for user_id in range(first, first + 100_000):
        cache.saw_user(user_id)
    assert cache._seen.buffer_info()[1] == size == hotcache.SEEN_SLOTS
    recent = range(first + 100_000 - hotcache.SEEN_SLOTS, first + 100_000)
    assert all(cache.seen_user(user_id) for user_id in recent)
    assert not cache.seen_user(first)  # its slot went to a newer student
    assert not cache.seen_user(0) and not cache.seen_user(first + 100_000)
    cache.forget_seen(recent[0])
    assert not cache.seen_user(recent[0]) and cache.seen_user(recent[1])
    cache.forget_seen(first)  # not held: nothing else forgotten
    assert cache.seen_user(recent[-1])


def test_entries_older_than_the_ttl_leave_at_the_next_put() -> None:
    """Memory follows the users of the last minute, not every user since the start."""
    now = [0.0]
    cache = hotcache.HotCache(maxsize=20_000, ttl=60.0, clock=lambda: now[0])
    generation = cache.generation(hotcache.USERS)
    for user_id in range(1000):
        cache.put(hotcache.USERS, user_id, {"id": user_id}, generation)
    now[0] = 61.0
    cache.put(hotcache.USERS, 5000, {"id": 5000}, generation)
    assert len(cache.tables[hotcache.USERS].entries) == 1
    assert cache.get(hotcache.USERS, 5000) == {"id": 5000}
    assert cache.get(hotcache.USERS, 1) is None


async def test_a_role_granted_by_the_cli_is_the_role_of_the_bots_next_reply(
    database_url: str, redis_url: str
) -> None:
    """``studentbot grant`` is a process of its own: with Redis it tells the bot at once."""
    import argparse

    from bot.cli import cmd_grant
    from bot.config import Settings

    bot = await Harness.create(database_url, redis_url=redis_url)
    hotcache._caches.discard(hotcache.of(bot.ctx.engine))  # only Redis tells the bot
    try:
        await bot.send("/help", user=STUDENT_EN)
        as_student = bot.last_text(STUDENT_EN.id)
        settings = Settings(database_url=database_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
        grant = argparse.Namespace(user_id=STUDENT_EN.id, role=Role.STAFF.value)
        assert await cmd_grant(grant, settings) == 0
        await settle(bot)
        await bot.send("/help", user=STUDENT_EN)
        assert bot.last_text(STUDENT_EN.id) != as_student  # the staff's commands are listed
    finally:
        await bot.close()
