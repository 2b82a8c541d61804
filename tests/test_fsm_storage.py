"""A person halfway through a wizard continues after the bot restarts (database or Redis)."""

from __future__ import annotations

import uuid

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.redis import RedisStorage

from bot.config import Settings
from bot.factory import create_app_context
from bot.fsm import SQLAlchemyStorage
from tests.harness import Harness, statements_on


class Wizard(StatesGroup):
    name = State()
    phone = State()


KEY = StorageKey(bot_id=42, chat_id=1001, user_id=1001)


async def test_database_storage_round_trip_and_cleanup(harness: Harness) -> None:
    storage = SQLAlchemyStorage(harness.ctx.sessionmaker)
    assert await storage.get_state(KEY) is None
    await storage.set_state(KEY, Wizard.name)
    await storage.update_data(KEY, {"full_name": "Айгерім Садықова"})
    assert await storage.get_state(KEY) == "Wizard:name"
    assert await storage.get_data(KEY) == {"full_name": "Айгерім Садықова"}
    # A new storage object on the same database (a restarted process) sees the same state.
    again = SQLAlchemyStorage(harness.ctx.sessionmaker)
    assert await again.get_state(KEY) == "Wizard:name"
    await again.set_state(KEY, None)
    await again.set_data(KEY, {})
    assert await storage.get_state(KEY) is None and await storage.get_data(KEY) == {}


async def test_state_survives_restart_through_the_dispatcher(harness: Harness) -> None:
    from aiogram.fsm.context import FSMContext

    await harness.send("/help")  # a person halfway through a wizard has talked to the bot
    ctx = FSMContext(
        storage=harness.ctx.storage,
        key=StorageKey(bot_id=harness.bot.id, chat_id=1001, user_id=1001),
    )
    await ctx.set_state(Wizard.phone)
    restarted = await harness.restart()
    await restarted.send("/cancel")
    assert "Cancelled" in restarted.last_text() or "Тоқтатылды" in restarted.last_text()


async def test_redis_storage_is_used_when_redis_url_is_set(
    redis_url: str, sqlite_url: str
) -> None:
    settings = Settings(database_url=sqlite_url, redis_url=redis_url, _env_file=None)  # type: ignore[call-arg]
    ctx = await create_app_context(settings)
    try:
        assert isinstance(ctx.storage, RedisStorage)
        key = StorageKey(bot_id=42, chat_id=int(uuid.uuid4().int % 10**9), user_id=7)
        await ctx.storage.set_state(key, Wizard.phone)
        await ctx.storage.set_data(key, {"step": 2})
        other = RedisStorage.from_url(
            redis_url, key_builder=DefaultKeyBuilder(prefix="studentbot", with_destiny=True)
        )
        try:
            assert await other.get_state(key) == "Wizard:phone"
            assert await other.get_data(key) == {"step": 2}
            await other.set_state(key, None)
            await other.set_data(key, {})
        finally:
            await other.close()
    finally:
        await ctx.close()


async def test_forget_erases_a_state_the_process_had_cached_in_another_chat(
    harness: Harness,
) -> None:
    """/forget deletes every FSM record of the person (a bulk DELETE): a state cached for one
    of their chats is forgotten too, not answered from until the cache's ttl (issue 18)."""
    from bot.services.personal_data import PersonalDataRegistry

    in_group = StorageKey(bot_id=harness.bot.id, chat_id=-100777, user_id=1001)
    storage = SQLAlchemyStorage(harness.ctx.sessionmaker)
    await storage.set_state(in_group, Wizard.name)
    assert await storage.get_state(in_group) == "Wizard:name"  # now cached
    async with harness.ctx.sessionmaker() as session:
        await PersonalDataRegistry().erase(session, 1001)
        await session.commit()
    assert await storage.get_state(in_group) is None


async def test_a_new_students_first_update_reads_no_state_and_a_returning_ones_does(
    harness: Harness,
) -> None:
    """Issue 18: the user's row made by this very update means no FSM record of theirs exists
    (bot.middlewares.fsm_state): no fsm_state read. A known user's state is read, and a wizard
    they were in goes on."""
    from aiogram.fsm.context import FSMContext

    from bot import hotcache

    with statements_on(harness) as statements:
        await harness.send("/help")  # the first contact
        assert harness.last_text()  # answered
        assert not [s for s in statements if "fsm_state" in s]
        assert [s for s in statements if "INSERT INTO users" in s]
        assert not [s for s in statements if s.lstrip().startswith("SELECT users")]
        # the student is halfway through a wizard; a restart of the process forgets the caches
        await FSMContext(
            storage=harness.ctx.storage,
            key=StorageKey(bot_id=harness.bot.id, chat_id=1001, user_id=1001),
        ).set_state(Wizard.phone)
        hotcache.of(harness.ctx.engine).clear()
        statements.clear()
        await harness.send("/cancel")
        assert [s for s in statements if "fsm_state" in s and s.lstrip().startswith("SELECT")]
        assert "Тоқтатылды" in harness.last_text()
