"""aiosqlite with one hop to its thread per statement, and none for a commit with nothing to do.

aiosqlite runs each call on the connection in its own thread, and SQLAlchemy's adapter makes
four calls for a statement (open a cursor, execute, fetch the rows, close the cursor) and one
for every COMMIT and ROLLBACK — also the ROLLBACK with which the pool resets a connection that
has just committed. Each call is a queue put, a thread wake-up and a callback back on the
event loop: about 35 µs of the event loop's CPU and 50 µs of the process's, 18 of them per
answered question (36 through the update inbox), more than the statements themselves (issue
18).

Here the cursor does its whole statement in one call, and ``commit()``/``rollback()`` make
no call when the SQLite connection has no transaction open (``sqlite3`` would then do nothing
either) and none of this connection's statements is still on its way (one cut off by a
cancellation may yet open one). Everything else is SQLAlchemy's aiosqlite adapter, which this
extends; :func:`one_hop_dbapi` returns None when the installed SQLAlchemy or aiosqlite do not
have what it builds on, and the engine then uses the stock adapter.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any, cast

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

Found = tuple[Any, list[Any], int, int | None]  # description, rows, rowcount, lastrowid


def run_statement(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Found:
    """One statement with all its rows, its cursor closed (here in aiosqlite's thread; the
    inline engine, :mod:`bot.db.sqlite_inline`, runs it on the loop)."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run(
    connection: OneHopConnection,
    conn: sqlite3.Connection,
    operation: str,
    parameters: Any,
    many: bool,
) -> Found:
    """In aiosqlite's thread: the statement, then the count of finished ones."""
    try:
        return run_statement(conn, operation, parameters, many)
    finally:
        connection.finished += 1  # only this thread writes it


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and close are one call in aiosqlite's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no cursor lives in this thread
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return  # nothing is open: the rows are here, the cursor closed in the thread

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._call(operation, parameters, False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._call(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _call(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = cast("OneHopConnection", self._adapt_connection)
        async with adapt._execute_mutex:
            conn = self._connection._conn  # raises when closed, as aiosqlite does
            adapt.sent += 1
            try:
                found = await self._connection._execute(
                    _run, adapt, conn, operation, parameters, many
                )
            except BaseException:
                if not self._connection._running:
                    adapt.finished = adapt.sent  # the thread is gone: nothing is pending
                raise
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Cursors of :class:`OneHopCursor`; a commit or rollback with nothing to do is skipped."""

    __slots__ = ("finished", "sent")

    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.sent = 0  # statements handed to the thread (written by the event loop only)
        self.finished = 0  # statements the thread has finished (written by it only)

    def _idle(self) -> bool:
        """No transaction open and none about to be: COMMIT and ROLLBACK have nothing to do."""
        conn = self._connection._connection
        return conn is None or (self.sent == self.finished and not conn.in_transaction)

    def commit(self) -> None:
        if not self._idle():
            super().commit()

    def rollback(self) -> None:
        if not self._idle():
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI shim, handing out :class:`OneHopConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        stock = super().connect(*arg, **kw)
        return OneHopConnection(self, stock._connection)


def one_hop_dbapi() -> Any:
    """The DBAPI module to give ``create_engine(module=...)`` for aiosqlite, or None when the
    installed versions lack what it builds on."""
    needed = (
        hasattr(aiosqlite.Connection, "_execute")
        and hasattr(AsyncAdapt_aiosqlite_connection, "_execute_mutex")
        and hasattr(AsyncAdapt_aiosqlite_cursor, "_async_soft_close")
    )
    return OneHopDBAPI(aiosqlite, sqlite3) if needed else None
