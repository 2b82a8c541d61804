"""The bot's SQLite engine: statements on the event loop's thread, SQLite's waits off it."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.db.sqlite_inline as inline
from bot.db.base import create_engine, create_sessionmaker, dispose_engine
from bot.db.sqlite_hop import OneHopDBAPI
from bot.db.sqlite_inline import InlineDBAPI
from tests.sqlite_support import TABLE, assert_results_rowcounts_and_errors, row

# ~0.1-0.5 s of SQLite work, far over the loop's budget for one statement
MANY = (
    "FROM (WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
    "WHERE x < 400000) SELECT x FROM n)"
)
COUNT_MANY = f"SELECT count(*) {MANY}"
INSERT_MANY = f"INSERT INTO numbers SELECT x {MANY}"
# Another process: takes the write lock, says so, commits when told (a CLI command writing).
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute(
    "INSERT INTO processed_updates (bot_id, update_id, claimed_at)"
    " VALUES (1, 1000, '2026-01-01 00:00:00')"
)
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("committed", flush=True)
"""


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url, inline=True)
    yield engine
    await dispose_engine(engine)


def checkpointer(engine: AsyncEngine) -> inline.Checkpointer:
    dbapi = engine.sync_engine.dialect.loaded_dbapi
    assert isinstance(dbapi, InlineDBAPI)
    return dbapi.state


def database_file(engine: AsyncEngine) -> Path:
    return Path(str(engine.url.database))


class Ticker:
    """A coroutine that counts while the loop is free to run it."""

    def __init__(self) -> None:
        self.ticks = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.ticks += 1
            for target, waiter in self._waiting:
                if self.ticks >= target and not waiter.done():
                    waiter.set_result(None)

    async def until(self, ticks: int) -> None:
        """Wait until the ticker has ticked ``ticks`` more times."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((self.ticks + ticks, waiter))
        await waiter

    def stop(self) -> None:
        self._task.cancel()


async def test_statements_run_on_the_loop_thread_and_no_thread_per_connection(
    engine: AsyncEngine,
) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _thread_id(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("thread_id", 0, threading.get_ident)

    sessions = create_sessionmaker(engine)
    all_open = asyncio.Event()
    opened = 0

    async def hold() -> int:
        nonlocal opened
        async with sessions() as session:
            found = (await session.execute(text("SELECT thread_id()"))).scalar_one()
            opened += 1
            if opened == 20:
                all_open.set()
            await all_open.wait()  # 20 connections open at once
            return int(found)

    def aiosqlite_threads() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if "_connection_worker_thread" in t.name}

    before = aiosqlite_threads()
    found = await asyncio.gather(*(hold() for _ in range(20)))
    assert set(found) == {threading.get_ident()}
    assert aiosqlite_threads() <= before  # none of its own


async def test_results_rowcounts_and_errors_as_with_aiosqlite(engine: AsyncEngine) -> None:
    await assert_results_rowcounts_and_errors(engine)
    async with create_sessionmaker(engine)() as session:
        autocheckpoint = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar()
        busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
        assert (autocheckpoint, busy) == (0, 0)  # the checkpoints and the waits are elsewhere


async def _holder(path: Path) -> asyncio.subprocess.Process:
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert other.stdout is not None
    assert await other.stdout.readline() == b"locked\n"
    return other


async def _release(other: asyncio.subprocess.Process) -> None:
    assert other.stdin is not None and other.stdout is not None
    other.stdin.write(b"go\n")
    await other.stdin.drain()
    assert await other.stdout.readline() == b"committed\n"
    assert await other.wait() == 0


async def test_a_write_waiting_for_another_process_leaves_the_loop_free(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:  # a connection opened and the WAL set up beforehand
        await session.execute(text("SELECT 1"))
    other = await _holder(database_file(engine))
    ticker = Ticker()

    async def write() -> None:
        async with sessions() as session:
            await session.execute(insert(TABLE), row(1))
            await session.commit()

    writing = asyncio.create_task(write())
    try:
        await ticker.until(20)  # the loop runs other coroutines meanwhile
        assert not writing.done()  # the write waits for the other process's lock
        async with sessions() as session:  # reads do not wait at all (WAL)
            assert (await session.execute(select(TABLE.c.update_id))).all() == []
        await _release(other)
        await asyncio.wait_for(writing, 30)
    finally:
        ticker.stop()
    async with sessions() as session:
        ids = (await session.execute(select(TABLE.c.update_id).order_by(TABLE.c.update_id))).all()
    assert [i for (i,) in ids] == [1, 1000]


async def test_a_write_cancelled_while_it_waits_is_rolled_back(engine: AsyncEngine) -> None:
    """The statement goes on in its thread after its task was cancelled; the connection is
    rolled back and handed out again only after it ended."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
    other = await _holder(database_file(engine))

    async def write() -> None:
        async with sessions() as session:
            await session.execute(insert(TABLE), row(1))
            await session.commit()

    writing = asyncio.create_task(write())
    await Ticker().until(10)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await _release(other)
    async with sessions() as session:
        await session.execute(insert(TABLE), row(2))  # the writer is free again
        await session.commit()
    async with sessions() as session:
        ids = (await session.execute(select(TABLE.c.update_id).order_by(TABLE.c.update_id))).all()
    assert [i for (i,) in ids] == [2, 1000]


async def test_a_long_read_moves_off_the_loop(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    ticker = Ticker()
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            ticks = ticker.ticks
            count = (await session.execute(text(COUNT_MANY))).scalar_one()
            assert ticker.ticks > ticks  # the loop went on while SQLite counted
    finally:
        ticker.stop()
    assert count == 400_000


async def test_a_long_first_write_is_started_over_once(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await session.execute(text("CREATE TABLE numbers (x INTEGER)"))
        await session.commit()
    ticker = Ticker()
    try:
        async with sessions() as session:
            ticks = ticker.ticks
            await session.execute(text(INSERT_MANY))
            await session.commit()
            assert ticker.ticks > ticks
    finally:
        ticker.stop()
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM numbers"))).scalar() == 400_000


async def test_a_long_statement_later_in_a_write_keeps_the_transaction(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await session.execute(text("CREATE TABLE numbers (x INTEGER)"))
        await session.commit()
    async with sessions() as session:
        await session.execute(insert(TABLE), row(1))
        assert (await session.execute(text(COUNT_MANY))).scalar_one() == 400_000  # a read
        await session.execute(text(INSERT_MANY))
        await session.commit()
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM numbers"))).scalar() == 400_000
        assert (await session.execute(select(TABLE.c.update_id))).scalars().all() == [1]


async def test_the_wal_is_checkpointed_and_stays_small(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    state = checkpointer(engine)
    state.every = 100
    wal = database_file(engine).with_name(database_file(engine).name + "-wal")
    for update_id in range(1, 1201):
        async with sessions() as session:
            await session.execute(insert(TABLE), row(update_id))
            await session.commit()
    assert state.checkpoints >= 10  # one every 100 write commits
    # Without checkpoints 1,200 commits leave the WAL at ~3,600 pages.
    assert wal.stat().st_size < 1200 * 4096
    state.seconds = 0.05  # and a commit too few to count is checkpointed within seconds
    async with sessions() as session:
        await session.execute(insert(TABLE), row(5000))
        await session.commit()
    await asyncio.wait_for(state.checkpointed(), 10)
    other = sqlite3.connect(database_file(engine))
    try:
        busy, frames, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert (busy, frames) == (0, done)  # nothing left to copy
        assert other.execute("SELECT count(*) FROM processed_updates").fetchone() == (1201,)
    finally:
        other.close()


async def test_the_commit_after_a_checkpoint_emptied_the_wal_is_off_the_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """That commit starts the WAL over and syncs its header: not on the loop."""
    threads: list[bool] = []
    commit = inline._commit

    def recorded(conn: sqlite3.Connection) -> None:
        threads.append(threading.get_ident() == loop_thread)
        commit(conn)

    loop_thread = threading.get_ident()
    monkeypatch.setattr(inline, "_commit", recorded)
    sessions = create_sessionmaker(engine)
    for update_id in (1, 2):
        async with sessions() as session:
            await session.execute(insert(TABLE), row(update_id))
            await session.commit()
    busy, frames, done = await checkpointer(engine).checkpoint()
    assert (busy, frames) == (0, done)
    for update_id in (3, 4):
        async with sessions() as session:
            await session.execute(insert(TABLE), row(update_id))
            await session.commit()
    assert threads == [True, True, False, True]  # on the loop, but the one after


async def test_dispose_engine_ends_the_checkpoints(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url, inline=True)
    async with create_sessionmaker(engine)() as session:
        await session.execute(text("SELECT 1"))
    assert [t for t in asyncio.all_tasks() if t.get_name() == "sqlite-checkpoints"]
    await dispose_engine(engine)
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "sqlite-checkpoints"]


async def test_an_in_memory_database_runs_inline_too() -> None:
    engine = create_engine("sqlite+aiosqlite://", inline=True)
    try:
        assert isinstance(engine.sync_engine.dialect.loaded_dbapi, InlineDBAPI)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1), (2)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT sum(x) FROM t"))).scalar() == 3
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "sqlite-checkpoints"]
    finally:
        await dispose_engine(engine)


async def test_without_what_it_builds_on_the_engine_keeps_aiosqlite(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline, "inline_dbapi", lambda *a, **kw: None)
    engine = create_engine(sqlite_url, inline=True)
    try:
        assert isinstance(engine.sync_engine.dialect.loaded_dbapi, OneHopDBAPI)
        async with create_sessionmaker(engine)() as session:
            await session.execute(insert(TABLE), row(1))
            await session.commit()
    finally:
        await dispose_engine(engine)
