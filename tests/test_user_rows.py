"""A student's ``users`` row on their updates (issue 18): a new student's first update makes it
with one statement, a returning one is read, never inserted twice; two updates of one new
student at once make one row. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import delete, func, select

from bot import hotcache
from bot.db.models import User
from bot.services.users import UserRepository
from tests.harness import STUDENT_EN, STUDENT_RU, Harness, statements_on


def on_users(statements: list[str]) -> list[str]:
    return [s.split(" (")[0] for s in statements if " users" in s and "questions" not in s]


async def rows(harness: Harness) -> int:
    async with harness.ctx.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_a_new_students_first_update_inserts_their_row_without_reading_it(
    harness: Harness,
) -> None:
    with statements_on(harness) as statements:
        await harness.send("/help", user=STUDENT_EN)
    assert harness.last_text(STUDENT_EN.id).startswith("I answer questions")
    assert on_users(statements) == ["INSERT INTO users"]


async def test_a_returning_student_whose_cached_row_expired_is_read_not_inserted(
    harness: Harness,
) -> None:
    await harness.send("/help", user=STUDENT_EN)
    hotcache.of(harness.ctx.engine).forget(hotcache.USERS, [hotcache.ALL])  # the ttl passed
    with statements_on(harness) as statements:
        await harness.send("/help", user=STUDENT_EN)
    assert [s.split(" FROM")[0][:12] for s in on_users(statements)] == ["SELECT users"]
    assert harness.last_text(STUDENT_EN.id).startswith("I answer questions")


async def test_a_row_this_process_never_saw_is_found_after_the_insert_attempt(
    harness: Harness,
) -> None:
    """Made by another process (or before a restart): the insert does nothing, the row is
    read and refreshed, and the update is not a first contact."""
    async with harness.ctx.sessionmaker() as session:
        await UserRepository(session).touch(STUDENT_RU)
        await session.commit()
    cache = hotcache.of(harness.ctx.engine)
    cache.clear()
    cache.forget_seen(STUDENT_RU.id)
    renamed = dataclasses.replace(STUDENT_RU, first_name="Ivan-renamed")
    async with harness.ctx.sessionmaker() as session:
        user, created = await UserRepository(session).touch(renamed)
        assert not created and user.first_name == "Ivan-renamed"
        await session.commit()
    async with harness.ctx.sessionmaker() as session:
        stored = await session.get(User, STUDENT_RU.id)
        assert stored is not None and stored.first_name == "Ivan-renamed"
    assert await rows(harness) == 1


async def test_two_updates_of_one_new_student_at_once_make_one_row(harness: Harness) -> None:
    async def touch() -> tuple[int, bool]:
        async with harness.ctx.sessionmaker() as session:
            user, created = await UserRepository(session).touch(STUDENT_EN)
            await session.commit()
            return user.id, created

    results = await asyncio.gather(touch(), touch())
    assert [user_id for user_id, _ in results] == [STUDENT_EN.id, STUDENT_EN.id]
    assert sorted(created for _, created in results) == [False, True]
    assert await rows(harness) == 1


async def test_a_student_who_erased_their_data_starts_again_as_new(harness: Harness) -> None:
    """The process saw them; their row is gone: read, then made again (a first contact)."""
    await harness.send("/help", user=STUDENT_EN)
    async with harness.ctx.sessionmaker() as session:
        await session.execute(delete(User).where(User.id == STUDENT_EN.id))
        await session.commit()
    async with harness.ctx.sessionmaker() as session:
        user, created = await UserRepository(session).touch(STUDENT_EN)
        assert created and user.id == STUDENT_EN.id
        await session.commit()
    assert await rows(harness) == 1
