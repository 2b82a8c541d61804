"""SQLite through aiosqlite: one thread hop per statement, none for a commit with nothing to do.

The engines of one-shot commands and migrations; the bot's own engine runs its statements on
the event loop (tests/test_sqlite_inline.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.base import create_engine, create_sessionmaker
from bot.db.migrate import upgrade
from bot.db.sqlite_hop import OneHopDBAPI
from tests.sqlite_support import TABLE, assert_results_rowcounts_and_errors, row


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hop.db'}"
    await upgrade(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The calls made in aiosqlite's thread, by name."""
    import aiosqlite.core

    made: list[str] = []
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
    yield made


async def test_the_engine_uses_the_one_hop_driver(engine: AsyncEngine) -> None:
    assert isinstance(engine.sync_engine.dialect.loaded_dbapi, OneHopDBAPI)


async def test_a_write_and_its_commit_are_two_hops_a_read_alone_one(
    engine: AsyncEngine, hops: list[str]
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:  # a connection opened before counting
        await session.execute(text("SELECT 1"))
    hops.clear()
    async with sessions() as session:
        await session.execute(insert(TABLE), row(1))
        await session.commit()
    assert hops == ["_run", "commit"]  # no cursor, fetch, close, nor the pool's ROLLBACK
    hops.clear()
    async with sessions() as session:
        found = (await session.execute(select(TABLE.c.update_id))).scalars().all()
        await session.commit()
    assert found == [1]
    assert hops == ["_run"]  # nothing to commit, nothing to roll back


async def test_results_rowcounts_many_rows_and_errors_as_before(engine: AsyncEngine) -> None:
    await assert_results_rowcounts_and_errors(engine)


async def test_a_write_cut_off_by_cancellation_is_rolled_back(engine: AsyncEngine) -> None:
    """The statement may still run in the thread after its task was cancelled: the ROLLBACK
    that returns the connection to the pool is then made, not skipped."""
    sessions = create_sessionmaker(engine)

    async def write() -> None:
        async with sessions() as session:
            await session.execute(insert(TABLE), row(9))
            await asyncio.sleep(3600)

    task = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with sessions() as session:
        assert (await session.execute(select(TABLE.c.update_id))).all() == []
        await session.execute(insert(TABLE), row(10))  # the writer is free again
        await session.commit()
