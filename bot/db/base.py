"""Declarative base, engine and session factory shared by every part of the assistant."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, Dialect, Engine, Row, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_only

from bot.db import pgdriver

# The session of the update being handled in this task (set by the reliability middleware):
# the FSM storage and other per-update helpers read and write through it.
update_session: contextvars.ContextVar[AsyncSession | None] = contextvars.ContextVar(
    "update_session", default=None
)

SQLITE_BUSY_SECONDS = 30.0
# Connections kept open: an update holds one from its first statement to its commit, so with
# MAX_CONCURRENT_UPDATES in flight (64) all of them are in use at once. An overflow connection
# is closed when it comes back to a full pool, so a pool smaller than the load opens and closes
# connections all the time (SQLite: a thread, a file and four PRAGMAs each; asyncpg: a login),
# which cost a third of the CPU per update through the inbox (issue 18). The bot sizes its pool
# from MAX_CONCURRENT_UPDATES (:func:`pool_size_for`); one-shot commands keep these defaults.
SQLITE_POOL = {"pool_size": 10, "max_overflow": 100, "pool_timeout": 30}
# PostgreSQL: at most 40 connections per process, as before; kept open rather than 10 kept and
# 30 opened and closed under load (several processes: keep their sum under max_connections).
POSTGRES_POOL = {"pool_size": 10, "max_overflow": 30, "pool_timeout": 30}
POSTGRES_MAX_CONNECTIONS = POSTGRES_POOL["pool_size"] + POSTGRES_POOL["max_overflow"]  # 40
WORKER_CONNECTIONS = 8  # the poller's store, the pipeline's claims, reminders, SLA, broadcasts
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
# A PostgreSQL connection back in the pool for longer than this is pinged before it is handed
# out again (a restart or a dropped link is noticed then); one used a moment ago is not.
PING_AFTER_IDLE_SECONDS = 2.0

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now; used as a column default (called per row, never at import)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SQLiteWriteGate:
    """One write transaction at a time on a SQLite database, queued in order on the event loop.

    SQLite allows one writer; others wait in its busy handler, which polls with sleeps and,
    under a rush, gives up with "database is locked". Here a connection takes an asyncio lock
    before its transaction's first write and gives it back at commit or rollback: writers queue
    fairly and never poll. Reads never wait (WAL). A task that already writes through one
    connection and starts writing through a second would wait for itself: that is a bug in
    the caller, reported at once instead of after the busy timeout.
    """

    def __init__(self, timeout: float = SQLITE_BUSY_SECONDS) -> None:
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._holder: Any = None  # the pool's record of the connection holding the lock
        self._task: asyncio.Task[Any] | None = None

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before_execute)
        # Released when the connection goes back to the pool: after its commit or rollback
        # has completed (a session gives its connection back at the end of each transaction).
        event.listen(sync.pool, "checkin", self._on_checkin)

    async def _acquire(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN", None, Exception("database is locked (writer queue timed out)")
            ) from None

    def _take_now(self) -> bool:
        """Take the lock if that needs no wait: asyncio's own ``acquire``, run to its end
        right here when it does not suspend (issue 18: no hop to the event loop and back, no
        timeout set and cancelled, for most write transactions); else False, nothing taken."""
        if self._lock.locked():
            return False
        acquiring = self._lock.acquire()
        try:
            acquiring.send(None)
        except StopIteration:
            return True
        acquiring.close()  # it would wait (a waiter is being woken): queue as usual
        return False

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No write transaction begins meanwhile (after the one in progress has ended)."""
        await self._acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _before_execute(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.lstrip()[:7].upper().startswith(_WRITES):
            return
        record = conn.connection._connection_record
        if self._holder is record:
            return
        task = asyncio.current_task()
        if self._holder is not None and task is not None and task is self._task:
            raise RuntimeError(
                "a write through a second database connection while this update's own "
                "session holds the SQLite write lock: commit the first session before "
                "calling code that opens its own"
            )
        if not self._take_now():
            await_only(self._acquire())
        self._holder = record
        self._task = task

    def _on_checkin(self, _dbapi, record) -> None:  # type: ignore[no-untyped-def]
        if record is not None and self._holder is record:
            self._holder = None
            self._task = None
            self._lock.release()


def pool_size_for(url: str, concurrent_updates: int) -> dict[str, int]:
    """The pool for a bot handling ``concurrent_updates`` at once: a connection kept for each,
    and for the workers; PostgreSQL's capped at :data:`POSTGRES_MAX_CONNECTIONS`, all kept."""
    wanted = max(concurrent_updates, 1) + WORKER_CONNECTIONS
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return {}  # one connection shared by all (SQLAlchemy's StaticPool): no pool to size
        return {"pool_size": max(wanted, SQLITE_POOL["pool_size"])}
    kept = min(wanted, POSTGRES_MAX_CONNECTIONS)
    return {"pool_size": kept, "max_overflow": POSTGRES_MAX_CONNECTIONS - kept}


def create_engine(url: str, *, inline: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys, a busy timeout and one writer at a time
    (:class:`SQLiteWriteGate`), its folder created.

    ``inline=True`` (the bot's engine, :func:`bot.factory.create_app_context`): SQLite
    statements run on the event loop's thread, SQLite's waits off it
    (:mod:`bot.db.sqlite_inline`); close such an engine with :func:`dispose_engine`. Other
    engines (one-shot commands, migrations) keep aiosqlite's thread per connection, with one
    hop per statement (:mod:`bot.db.sqlite_hop`). PostgreSQL ignores ``inline``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        on_disk = bool(database) and database != ":memory:"
        if on_disk and not str(database).startswith("file:"):
            Path(str(database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_SECONDS})
        inline_module = False
        if parsed.get_driver_name() == "aiosqlite" and "module" not in kwargs:
            from bot.db.sqlite_hop import one_hop_dbapi  # one thread hop per statement
            from bot.db.sqlite_inline import inline_dbapi  # no thread at all

            module = inline_dbapi(SQLITE_BUSY_SECONDS, checkpoints=on_disk) if inline else None
            inline_module = module is not None
            module = module or one_hop_dbapi()
            if module is not None:
                kwargs["module"] = module
        if on_disk:
            for name, value in SQLITE_POOL.items():
                kwargs.setdefault(name, value)
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if on_disk:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL with NORMAL sync: durable across an application crash, one fsync per
                # checkpoint instead of per commit (several commits per update).
                cursor.execute("PRAGMA synchronous=NORMAL")
            if not inline_module:  # inline: 0 on the loop, SQLITE_BUSY_SECONDS off it
                cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
            cursor.close()

        gate = SQLiteWriteGate()
        gate.install(engine)
        if inline_module:  # its checkpoints hold the writers off (bot/db/sqlite_inline.py)
            kwargs["module"].state.exclusive = gate.exclusive
        return engine
    ping_after = kwargs.pop("ping_after_idle", PING_AFTER_IDLE_SECONDS)
    for name, value in POSTGRES_POOL.items():
        kwargs.setdefault(name, value)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, ping_after)
    return engine


def ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``after`` seconds.

    ``pool_pre_ping`` pings at every checkout, and an update checks a connection out once per
    transaction (three or four times): on asyncpg a ping is three round trips (BEGIN, a
    statement, ROLLBACK), about a third of the database work of an answered question (issue
    18). A connection checked in a moment ago was alive then; one idle longer (a quiet night,
    or the server restarted meanwhile) is pinged, and a dead one is replaced before use, as
    with ``pool_pre_ping``. A connection that dies within ``after`` seconds of its last use
    fails the statement that meets it, which invalidates the pool's older connections.
    """
    sync = engine.sync_engine
    idle_since = "idle_since"

    @event.listens_for(sync.pool, "checkin")
    def _checked_in(_dbapi, record) -> None:  # type: ignore[no-untyped-def]
        if record is not None:
            record.info[idle_since] = time.monotonic()

    @event.listens_for(sync.pool, "checkout")
    def _checked_out(dbapi, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        since = record.info.pop(idle_since, None)
        if since is None or time.monotonic() - since < after:
            return  # a new connection, or one in use a moment ago
        try:
            alive = sync.dialect.do_ping(dbapi)
        except Exception as exc:
            if isinstance(exc, sync.dialect.loaded_dbapi.Error) and sync.dialect.is_disconnect(
                exc, dbapi, None
            ):
                raise DisconnectionError(str(exc)) from exc
            raise
        if not alive:
            raise DisconnectionError("the connection did not answer a ping")


async def dispose_engine(engine: AsyncEngine) -> None:
    """Close an engine's connections, and end its SQLite checkpoints (``inline=True``)."""
    from bot.db.sqlite_inline import stop

    await stop(engine.sync_engine.dialect.loaded_dbapi)
    await engine.dispose()


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _alone(session: Session) -> bool:
    """The session's next transaction may run in autocommit (see
    :func:`one_statement_transaction`)."""
    transaction = session.get_transaction()
    # a transaction begun without a connection yet (attaching a cached row begins one) still
    # takes the option; once a connection is procured it is too late
    return not (
        (transaction is not None and getattr(transaction, "_connections", True))
        or session.new
        or session.dirty  # changes waiting to be flushed would commit apart from it
        or session.deleted
        or session.get_bind().dialect.name != "postgresql"
    )


async def one_statement_transaction(session: AsyncSession) -> None:
    """The session's next transaction will be one statement: on PostgreSQL run it in
    autocommit, which spares asyncpg's BEGIN and COMMIT, two round trips of the three (issue
    18: the inbox's claim and done-mark, a question stored with nothing else). Does nothing
    once the session holds a connection or has changes to flush; SQLite, whose BEGIN and
    COMMIT are not round trips, is left as it is."""
    if _alone(session.sync_session):
        await session.connection(execution_options=_AUTOCOMMIT)


_ASKED = object()  # a bound value that comes from the execution's parameters


class DriverStatement:
    """A Core statement compiled once per dialect and sent as that SQL string through the
    session's connection (``Connection.exec_driver_sql``), its parameters processed by the
    bind processors SQLAlchemy's own compilation gives it: the values stored are the same.

    Issue 18: ``session.execute`` of a cached Core statement spends ~40 µs of Python per
    statement (ORM dispatch, cache key, compiled-cache lookup, result set-up) on top of what
    ``exec_driver_sql`` spends; a handful of statements run for every update. Connection
    events (the SQLite write gate), error translation and invalidation on disconnect are the
    connection's, as before. On PostgreSQL the SQL goes to the connection's asyncpg connection
    itself, with the same guarantees (:mod:`bot.db.pgdriver`: ~half the CPU per statement).
    Only statements whose result columns need no processing and whose values need no
    Python-side default are accepted (checked when compiled)."""

    __slots__ = ("_plans", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        # (dialect, parameter names) -> (SQL, [(name, processor, fixed value or _ASKED)])
        self._plans: dict[tuple[Dialect, tuple[str, ...]], tuple[str, list[Any]]] = {}

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> tuple[str, list[Any]]:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=list(keys))
        if (
            not compiled.positional
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
        ):
            raise NotImplementedError(f"{dialect.name}: only plain positional parameters")
        if compiled.post_compile_params or compiled.insert_prefetch or compiled.update_prefetch:
            raise NotImplementedError("a statement with Python-side defaults or expanding IN")
        for column in compiled._result_columns:
            if column[3]._cached_result_processor(dialect, None) is not None:
                raise NotImplementedError(f"result column {column[0]} needs processing")
        processors = compiled._bind_processors
        plan = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = processors.get(name)
            if bind.required:
                plan.append((name, process, _ASKED))
            else:  # a value written into the statement, processed once
                value = bind.effective_value
                plan.append((name, None, process(value) if process else value))
        return compiled.string, plan

    def _sql_and_values(
        self, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple[str, list[Any]]:
        key = (dialect, tuple(params))
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = self._plan(dialect, key[1])
        sql, plan = found
        values = [
            (process(params[name]) if process else params[name]) if fixed is _ASKED else fixed
            for name, process, fixed in plan
        ]
        return sql, values

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """Execute on a (sync) connection; returns its ``CursorResult``."""
        sql, values = self._sql_and_values(connection.dialect, params)
        if connection.dialect.driver == "asyncpg":
            return pgdriver.execute(connection, sql, values)
        return connection.exec_driver_sql(sql, tuple(values))

    def run_alone(self, engine: Engine, params: Mapping[str, Any]) -> Any:
        """PostgreSQL: execute in autocommit on a pooled connection of its own, outside any
        session (:func:`bot.db.pgdriver.execute_alone`); None when that path is not open."""
        if engine.dialect.driver != "asyncpg":
            return None
        sql, values = self._sql_and_values(engine.dialect, params)
        return pgdriver.execute_alone(engine, sql, values)


def _run_driver(
    session: Session,
    statement: DriverStatement,
    params: Mapping[str, Any],
    alone: bool,
    commit: bool,
    fetch: Callable[[Any], Any] | None,
) -> Any:
    alone = alone and _alone(session)
    result = None
    if alone and commit:
        # nothing else in the transaction, committed at once: on PostgreSQL the statement
        # needs no session transaction nor connection (issue 18: their set-up, autocommit
        # option, commit and reset cost ~45 µs per statement); the commit below still runs
        # the session's commit hooks, as before
        result = statement.run_alone(session.get_bind(), params)  # type: ignore[arg-type]
    if result is None:
        connection = session.connection(execution_options=_AUTOCOMMIT if alone else None)
        result = statement.run(connection, params)
    found = fetch(result) if fetch is not None else result.rowcount
    if commit:
        session.commit()
    return found


async def run_driver(
    session: AsyncSession,
    statement: DriverStatement,
    params: Mapping[str, Any],
    *,
    alone: bool = False,
    commit: bool = False,
    fetch: Callable[[Any], Any] | None = None,
) -> Any:
    """Run ``statement`` in ``session``'s transaction, all in one hop into SQLAlchemy's
    greenlet (issue 18: each ``await session.…`` is one, ~15 µs): with ``alone`` as the
    transaction's one statement (:func:`one_statement_transaction`), with ``commit`` committed
    after it. Returns ``fetch(result)`` (read before the commit), or the rowcount. On
    PostgreSQL ``result`` is a :class:`bot.db.pgdriver.DriverResult`: ``fetch`` may use its
    ``all()``, ``scalar()``, ``scalar_one()`` and ``rowcount``, and read rows by position."""
    return await session.run_sync(_run_driver, statement, params, alone, commit, fetch)


def all_rows(result: Any) -> Sequence[Row[Any]]:
    """``fetch`` for :func:`run_driver`: the rows returned, to be read by position or unpacked
    (on PostgreSQL they are asyncpg's records, which have no attributes by column name)."""
    return result.all()  # type: ignore[no-any-return]


def scalar_one(result: Any) -> Any:
    """``fetch`` for :func:`run_driver`: the one value returned."""
    return result.scalar_one()


async def close_session(session: AsyncSession) -> None:
    """End ``session`` as ``async with sessionmaker()`` does. One with no transaction
    (committed, or none begun) has no connection to give back and nothing to wait for: it is
    closed at once, without the task of its own SQLAlchemy runs every close in (issue 18: a
    task and a loop iteration per update); any other is closed by SQLAlchemy, shielded from
    cancellation as before."""
    sync = session.sync_session
    if sync.get_transaction() is None:
        sync.close()  # forgets its objects; nothing awaited, so nothing to shield
        return
    await session.__aexit__(None, None, None)


class SessionScope:
    """``async with SessionScope(sessionmaker) as session``: a new session, closed by
    :func:`close_session`."""

    __slots__ = ("_maker", "_session")

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._maker = sessionmaker
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        self._session = self._maker()
        return self._session

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await close_session(self._session)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
