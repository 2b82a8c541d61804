"""The bot's SQLite statements on the event loop's thread, and SQLite's waits off it.

aiosqlite runs every call on a connection in that connection's own thread. Even with one
call per statement (:mod:`bot.db.sqlite_hop`) each is a queue put, a thread wake-up and a
callback on the event loop: about 35 µs of the loop's CPU and 50 µs of the process's, plus GIL
hand-offs between the pool's 72 threads, for statements that take a few µs (issue 18). Here
the bot's engine (``create_engine(url, inline=True)``) opens plain :mod:`sqlite3` connections
(no thread each) and runs statements, commits and rollbacks right on the loop. What the
thread protected the loop from is kept away from it:

* **Another process's lock** (a CLI command writing, a second bot process): statements run
  with ``busy_timeout`` 0, so SQLite answers SQLITE_BUSY at once instead of sleeping on the
  loop. A busy statement had no effect; it is run again in a worker thread with the normal
  busy timeout (30 s), the loop meanwhile serving everything else. Writers of this process
  never meet each other's lock (:class:`bot.db.base.SQLiteWriteGate`).
* **fsync**: with WAL and ``synchronous=NORMAL`` a commit writes to the WAL without syncing;
  only checkpoints sync, and the first commit after a checkpoint emptied the WAL (it syncs
  the WAL header as the WAL starts over). Automatic checkpoints are off on these connections;
  :class:`Checkpointer` makes PASSIVE checkpoints in a worker thread every
  :data:`CHECKPOINT_EVERY_COMMITS` write commits or :data:`CHECKPOINT_SECONDS`, the engine's
  writers held off meanwhile (else, under a steady stream of commits, a checkpoint never finds
  the WAL all copied, the WAL never starts over and grows without end: 16 MB after 1,200
  commits in a test); the commit after one emptied the WAL is made in a worker thread too.
* **A long statement**: one that can be started over without harm (a SELECT, or the first
  statement of a transaction) is interrupted once it has held the loop for
  :data:`INLINE_BUDGET_SECONDS` and run again in a worker thread (the transaction it opened
  rolled back first). A later statement of a write transaction cannot be (an interruption may
  undo the transaction): it runs to its end, and one slower than :data:`SLOW_SECONDS` is logged.

While a statement of a connection is in a worker thread, every other call on that connection
(the next statement, the commit, the pool's rollback, closing) waits for it first, also when
the task that sent it was cancelled: the thread and the loop never use a connection at once.
:func:`inline_dbapi` returns None when the installed SQLAlchemy lacks what this builds on; the
engine then keeps aiosqlite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Generator
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import aiosqlite
from greenlet import getcurrent
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.engine import AdaptedConnection
from sqlalchemy.util.concurrency import await_, in_greenlet

from bot.db.sqlite_hop import Found, OneHopCursor, run_statement

log = logging.getLogger(__name__)

T = TypeVar("T")

INLINE_BUDGET_SECONDS = 0.010  # a restartable statement longer than this moves off the loop
SLOW_SECONDS = 0.050  # a statement that held the loop longer than this is logged
PROGRESS_OPS = 1000  # SQLite VM steps between two looks at the clock
# Write commits between two checkpoints: ~1,000 pages, SQLite's automatic checkpoint, at the
# 3-4 pages an update's commit writes.
CHECKPOINT_EVERY_COMMITS = 300
CHECKPOINT_SECONDS = 5.0  # and at least this often while anything is written
_BUSY = getattr(sqlite3, "SQLITE_BUSY", 5)
_INTERRUPT = getattr(sqlite3, "SQLITE_INTERRUPT", 9)


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == _BUSY)  # also SQLITE_BUSY_RECOVERY, _SNAPSHOT, _TIMEOUT
    return "database is locked" in str(error)


def _interrupted(error: sqlite3.OperationalError) -> bool:
    """Interrupted by :meth:`InlineConnection._overran` (nothing else interrupts these)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code == _INTERRUPT if code is not None else str(error) == "interrupted"


def _commit(conn: sqlite3.Connection) -> None:
    conn.commit()


def _rollback(conn: sqlite3.Connection) -> None:
    conn.rollback()


def _patiently(conn: sqlite3.Connection, busy_ms: int, fn: Callable[..., T], *args: Any) -> T:
    """In a worker thread: ``fn`` with SQLite's normal busy timeout."""
    conn.execute(f"PRAGMA busy_timeout={busy_ms}")
    try:
        return fn(conn, *args)
    finally:
        conn.execute("PRAGMA busy_timeout=0")


async def _settled(future: asyncio.Future[Any]) -> None:
    """Wait for another call's thread work to end, whatever its outcome (that call reports
    it); being cancelled here leaves that work running."""
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            raise
    except Exception:
        pass


class _Ready:
    """An awaitable that is done at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_READY = _Ready()


class InlineCursor(OneHopCursor):
    """A cursor whose statement runs on the loop (or, when SQLite would wait, in a thread),
    its rows fetched and its SQLite cursor closed at once."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._found(self._adapt_connection.run(operation, parameters, False))  # type: ignore[attr-defined]

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._found(self._adapt_connection.run(operation, seq_of_parameters, True))  # type: ignore[attr-defined]

    def _found(self, found: Found) -> None:
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows.clear()
        self._rows.extend(rows)


class InlineConnection(AdaptedConnection):
    """A :mod:`sqlite3` connection used from the event loop, as SQLAlchemy's adapted DBAPI
    connection (``driver_connection`` is the ``sqlite3.Connection``)."""

    __slots__ = ("_deadline", "_pending", "_state", "_sync_commits", "dbapi")

    _connection: sqlite3.Connection  # type: ignore[assignment]  # the driver's, not asyncio's

    def __init__(
        self, dbapi: InlineDBAPI, connection: sqlite3.Connection, *, sync_commits: bool = False
    ) -> None:
        self.dbapi = dbapi
        self._sync_commits = sync_commits  # a commit may fsync (not WAL): off the loop
        self._connection = connection
        self._state = dbapi.state
        self._pending: asyncio.Future[Any] | None = None  # this connection's work in a thread
        self._deadline = float("inf")  # when the running statement is to be interrupted
        connection.set_progress_handler(self._overran, PROGRESS_OPS)

    def _overran(self) -> bool:
        return time.perf_counter() > self._deadline

    # -- the DBAPI connection ------------------------------------------------------------

    def cursor(self, server_side: bool = False) -> InlineCursor:
        return InlineCursor(self)  # type: ignore[arg-type]  # rows are fetched at once either way

    def execute(self, operation: Any, parameters: Any = None) -> InlineCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._settle()
        self._connection.isolation_level = value

    def create_function(self, *args: Any, **kw: Any) -> None:
        self._connection.create_function(*args, **kw)

    def run(self, operation: str, parameters: Any, many: bool) -> Found:
        """A statement: on the loop, or in a thread if SQLite would make the loop wait."""
        self._settle()
        current = getcurrent()
        if current is not self._state.awaited_in:
            # SQLAlchemy's AsyncConnection.execute() insists that a statement awaits
            # something (AwaitRequired): one switch to the loop's task and straight back
            # per greenlet (~1 µs), not per statement.
            await_(_READY)
            self._state.awaited_in = current
        conn = self._connection
        opened = not conn.in_transaction  # nothing of a transaction to lose by starting over
        restartable = opened or operation.lstrip()[:6].upper() == "SELECT"
        start = time.perf_counter()
        if restartable:
            self._deadline = start + INLINE_BUDGET_SECONDS
        try:
            return run_statement(conn, operation, parameters, many)
        except sqlite3.OperationalError as error:
            if not (_busy(error) or (restartable and _interrupted(error))):
                raise
        finally:
            self._deadline = float("inf")
            self._held(start, operation)
        # It had no effect. Started over in a thread, also the transaction it opened (the
        # BEGIN sqlite3 sent before it, or what an interruption left of it).
        if opened and conn.in_transaction:
            conn.rollback()
        return self._in_thread(run_statement, operation, parameters, many)

    def commit(self) -> None:
        self._settle()
        conn = self._connection
        if not conn.in_transaction:
            return  # nothing written: nothing to commit (sqlite3 would do nothing either)
        state = self._state
        state.written()
        if state.restart_risk or self._sync_commits:
            # The WAL may start over with this commit, which syncs its header: not on the loop.
            self._in_thread(_commit)
            state.restart_risk = state.checkpointing
            return
        self._inline(_commit, "COMMIT")

    def rollback(self) -> None:
        self._settle()
        if self._connection.in_transaction:
            self._inline(_rollback, "ROLLBACK")

    def close(self) -> None:
        if in_greenlet():
            self._settle()
            try:
                await_(asyncio.get_running_loop().run_in_executor(None, self._connection.close))
                return
            except RuntimeError:  # the executor is shut down: the loop is ending
                pass
        self.terminate()

    def terminate(self) -> None:
        """Close without waiting: after this connection's thread work, off the loop when it
        still runs (the last connection to close checkpoints the WAL and syncs)."""
        conn = self._connection
        pending = self._pending

        def close(_: object = None) -> None:
            try:
                loop = asyncio.get_running_loop()
                loop.run_in_executor(None, conn.close)
            except RuntimeError:
                conn.close()

        if pending is not None and not pending.done():
            pending.add_done_callback(close)
        else:
            close()

    def _handle_exception(self, error: Exception) -> Any:
        raise error

    # -- how calls are made ----------------------------------------------------------------

    def _inline(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        start = time.perf_counter()
        try:
            return fn(self._connection)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
        finally:
            self._held(start, what)
        return self._in_thread(fn)

    def _held(self, start: float, what: str) -> None:
        held = time.perf_counter() - start
        if held > SLOW_SECONDS:
            log.warning("SQLite held the event loop for %.0f ms: %.80s", 1e3 * held, what)

    def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in a worker thread with the normal busy timeout; the
        connection is this call's until it ends, even if the caller is cancelled."""
        future = asyncio.get_running_loop().run_in_executor(
            None, _patiently, self._connection, self._state.busy_ms, fn, *args
        )
        self._pending = future
        future.add_done_callback(self._thread_done)
        return await_(asyncio.shield(future))

    def _thread_done(self, future: asyncio.Future[Any]) -> None:
        if self._pending is future:
            self._pending = None
        if not future.cancelled():
            future.exception()  # reported to the caller, if it still waits

    def _settle(self) -> None:
        while (pending := self._pending) is not None:
            if not pending.done():
                await_(_settled(pending))
            if self._pending is pending:  # done, its callback maybe not yet run
                self._pending = None


class Checkpointer:
    """PASSIVE checkpoints of one database in a worker thread, for connections that make none.

    Run by a task of the event loop, started by the engine's first connection and stopped by
    :func:`stop` (``bot.db.base.dispose_engine``).
    """

    def __init__(self, busy_seconds: float, every: int, seconds: float) -> None:
        self.busy_ms = int(busy_seconds * 1000)
        self.every = every
        self.seconds = seconds
        self.commits = 0  # write commits made through the engine
        self.awaited_in: Any = None  # the greenlet whose statement last awaited
        self.checkpoints = 0  # checkpoints made
        self.checkpointing = False  # one is running in a thread
        self.restart_risk = False  # one runs or emptied the WAL: the next commit may sync
        self._checkpointed_at = 0  # ``commits`` when the last checkpoint started
        self._connect: Callable[[], sqlite3.Connection] | None = None
        self._conn: sqlite3.Connection | None = None
        self._thread: asyncio.Future[tuple[int, int, int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._ended: list[asyncio.Future[None]] = []  # waiting for the next checkpoint
        # The engine's writers held off while a checkpoint runs (SQLiteWriteGate.exclusive):
        # else under a steady stream of commits a checkpoint never finds the WAL all copied,
        # the WAL never starts over and grows without end. None: the writers go on.
        self.exclusive: Callable[[], AbstractAsyncContextManager[Any]] | None = None

    def written(self) -> None:
        """A write transaction is being committed."""
        self.commits += 1
        if self.commits - self._checkpointed_at >= self.every:
            self._wake.set()

    def start(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Checkpoint a database opened with ``connect`` (idempotent; on the event loop)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._connect = connect
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = loop.create_task(self._run(), name="sqlite-checkpoints")

    async def _run(self) -> None:
        try:
            while not self._stopping:
                try:
                    async with asyncio.timeout(self.seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                if self.commits != self._checkpointed_at and not self._stopping:
                    await self.checkpoint()
        finally:
            self._close_connection()

    async def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint now: (busy, frames in the WAL, frames checkpointed)."""
        self._checkpointed_at = self.commits
        complete = False
        found = (1, -1, -1)
        try:
            async with self.exclusive() if self.exclusive else contextlib.nullcontext():
                # From here until the next write commit, a commit may start the WAL over.
                # (Not before: the writers queued ahead of the checkpoint commit on the loop.)
                self.checkpointing = self.restart_risk = True
                self._thread = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
                found = await asyncio.shield(self._thread)
            busy, frames, done = found
            complete = not busy and frames == done
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("SQLite checkpoint failed", exc_info=True)
        finally:
            self.checkpointing = False
            self.restart_risk = complete  # then the next write starts the WAL over
            self.checkpoints += 1
            ended, self._ended = self._ended, []
            for waiter in ended:
                if not waiter.done():
                    waiter.set_result(None)
        return found

    def _checkpoint(self) -> tuple[int, int, int]:
        if self._conn is None:
            assert self._connect is not None
            self._conn = self._connect()
        row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        thread = self._thread
        if thread is not None and not thread.done():  # cancelled while it checkpoints
            thread.add_done_callback(lambda _: conn.close())
        else:
            conn.close()  # never the database's last connection: no checkpoint, no sync

    async def checkpointed(self) -> None:
        """Wait for the next checkpoint to end."""
        waiter = asyncio.get_running_loop().create_future()
        self._ended.append(waiter)
        await waiter

    async def stop(self) -> None:
        """End the checkpoints (after the one running, if any)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._stopping = True
        self._wake.set()
        await task


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim (the dialect stays aiosqlite's), handing out
    :class:`InlineConnection`."""

    def __init__(self, busy_seconds: float, checkpoints: bool) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.state = Checkpointer(busy_seconds, CHECKPOINT_EVERY_COMMITS, CHECKPOINT_SECONDS)
        self.checkpoints = checkpoints  # a database on disk (in WAL mode once connected)

    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:  # type: ignore[override]
        kw.pop("timeout", None)  # the busy timeout off the loop is ``state.busy_ms``
        kw.pop("async_creator_fn", None)

        busy = self.state.busy_ms / 1000

        def open_(**extra: Any) -> sqlite3.Connection:
            """In a worker thread (opening a file may wait on the disk, WAL on a lock)."""
            options: dict[str, Any] = {**kw, **extra, "timeout": busy, "check_same_thread": False}
            conn: sqlite3.Connection = sqlite3.connect(*arg, **options)
            try:
                if self.checkpoints:
                    # WAL (the engine's, set here first to know it): a commit writes without
                    # syncing. Checkpoints: the Checkpointer's.
                    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    conn.execute("PRAGMA wal_autocheckpoint=0")
                    if str(mode).lower() != "wal":
                        log.warning("SQLite is not in WAL mode (%s): commits off the loop", mode)
                        sync_commits.append(True)
                conn.execute("PRAGMA busy_timeout=0")  # on the loop SQLite must never wait
            except BaseException:
                conn.close()
                raise
            return conn

        sync_commits: list[bool] = []
        loop = asyncio.get_running_loop()
        conn = await_(loop.run_in_executor(None, open_))
        if self.checkpoints:
            self.state.start(lambda: open_(isolation_level=None))
        return InlineConnection(self, conn, sync_commits=bool(sync_commits))


def inline_dbapi(busy_seconds: float, *, checkpoints: bool) -> InlineDBAPI | None:
    """The DBAPI module to give ``create_engine(module=...)``, or None when the installed
    SQLAlchemy lacks what it builds on."""
    needed = (
        hasattr(AsyncAdapt_dbapi_cursor, "_async_soft_close")
        and hasattr(AsyncAdapt_aiosqlite_dbapi, "connect")
        and hasattr(aiosqlite.Connection, "stop")  # the dialect terminates connections then
    )
    return InlineDBAPI(busy_seconds, checkpoints) if needed else None


async def stop(dbapi: Any) -> None:
    """Stop the checkpoints of an engine's DBAPI module, if it is an :class:`InlineDBAPI`."""
    if isinstance(dbapi, InlineDBAPI):
        await dbapi.state.stop()
