"""Event isolation: one key's updates one at a time, and no lock left behind per user."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey

from bot.isolation import PerKeyIsolation


def key(user_id: int) -> StorageKey:
    return StorageKey(bot_id=1, chat_id=user_id, user_id=user_id)


async def test_one_key_is_serialised() -> None:
    isolation = PerKeyIsolation()
    inside = 0
    most = 0

    async def update() -> None:
        nonlocal inside, most
        async with isolation.lock(key(7)):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(update() for _ in range(20)))
    assert most == 1
    assert len(isolation) == 0


async def test_different_keys_run_together() -> None:
    isolation = PerKeyIsolation()
    entered = asyncio.Event()

    async def hold() -> None:
        async with isolation.lock(key(1)):
            entered.set()
            await asyncio.sleep(0.05)

    holder = asyncio.create_task(hold())
    await entered.wait()
    async with asyncio.timeout(0.04), isolation.lock(key(2)):
        assert len(isolation) == 2
    await holder
    assert len(isolation) == 0


async def test_locks_do_not_accumulate_over_many_users() -> None:
    """aiogram's SimpleEventIsolation keeps a lock for every user ever seen; this keeps none."""
    isolation = PerKeyIsolation()
    semaphore = asyncio.Semaphore(64)

    async def update(user_id: int) -> None:
        async with semaphore, isolation.lock(key(user_id)):
            await asyncio.sleep(0)

    await asyncio.gather(*(update(u % 5000) for u in range(20_000)))
    assert len(isolation) == 0


async def test_a_failing_update_releases_its_key() -> None:
    isolation = PerKeyIsolation()
    try:
        async with isolation.lock(key(3)):
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    assert len(isolation) == 0
    async with asyncio.timeout(1), isolation.lock(key(3)):
        pass
