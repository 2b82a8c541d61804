"""PostgreSQL (asyncpg): a precompiled statement sent to the pooled connection's asyncpg
connection itself, without SQLAlchemy's execution context, cursor and result (issue 18).

``Connection.exec_driver_sql`` spends ~125 µs of CPU per statement through SQLAlchemy's asyncpg
adapter, asyncpg alone ~67 µs; an update through the inbox sends three or more such
statements. :func:`execute` does what that path does for a statement with positional
parameters and no result processing, in the same order and with the same objects:

* the connection's transaction checks of ``Connection._execute_context`` (an inactive
  transaction raises as before); anything unusual (connection events such as a statement
  counter, echo, a nested transaction, no transaction) goes through ``exec_driver_sql``;
* the adapter's ``_prepare_and_execute``: under its mutex, asyncpg's transaction begun unless
  in autocommit (so a statement in a session's transaction runs in it, and one in autocommit
  leaves none open), the statement prepared through the adapter's own prepared-statement cache
  (shared with SQLAlchemy's statements, invalidated with them), then fetched;
* errors translated by the adapter, then by ``Connection._handle_dbapi_exception`` (an
  ``IntegrityError`` is SQLAlchemy's; a dropped connection invalidates it and the pool).

Every SQLAlchemy internal this module touches is named here and nowhere else. The code it
mirrors is checked when first used (:func:`supported`: the source of each function mirrored,
as read in SQLAlchemy 2.1.9, and the attributes it reads): when SQLAlchemy changed any of it,
the direct path stays off (one warning) and every statement goes through ``exec_driver_sql``
as before, so an upgrade costs speed, never correctness. ``tests/test_pgdriver.py`` says
which path this install takes.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as _sa_asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGExecutionContext_asyncpg
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.util import await_only

log = logging.getLogger(__name__)

# What this module mirrors or borrows: sha256 (first 16 hex digits) of each function's source
# as read in SQLAlchemy 2.1.9. After an upgrade that changes one: re-read it, adapt this module,
# then update its digest.
MIRRORED: dict[str, str] = {
    "AsyncAdapt_asyncpg_cursor._prepare_and_execute": "8ae7fec55d859950",
    "PGExecutionContext_asyncpg.pre_exec": "95e99fdeaadf5a5b",
    "PGExecutionContext_asyncpg.handle_dbapi_exception": "e069fbd23c6b6eb8",
    "Connection._execute_context": "5b6b74a04258854b",
}
_CONNECTION_ATTRIBUTES = (
    "self._dbapi_connection",
    "self._transaction",
    "self._nested_transaction",
    "self._trans_context_manager",
    "self._has_events",
    "self._echo",
)
_supported: bool | None = None


def _mirrored(name: str) -> Any:
    owner, attribute = name.split(".")
    home = Connection if owner == "Connection" else getattr(_sa_asyncpg, owner)
    return getattr(home, attribute)


def _digest(function: Any) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def changed() -> list[str]:
    """What this module relies on that this SQLAlchemy does differently (empty: nothing)."""
    found = []
    for name, expected in MIRRORED.items():
        try:
            if _digest(_mirrored(name)) != expected:
                found.append(name)
        except (AttributeError, OSError, TypeError):
            found.append(name)
    adapter = getattr(_sa_asyncpg, "AsyncAdapt_asyncpg_connection", None)
    signatures = {
        "_prepare": ["self", "operation", "invalidate_timestamp"],
        "_start_transaction": ["self"],
        "_handle_exception": ["self", "error"],
    }
    for name, parameters in signatures.items():
        function = getattr(adapter, name, None)
        if function is None or list(inspect.signature(function).parameters) != parameters:
            found.append(f"AsyncAdapt_asyncpg_connection.{name}")
    if "_transaction" not in getattr(adapter, "__slots__", ()):
        found.append("AsyncAdapt_asyncpg_connection._transaction")
    base = getattr(_sa_asyncpg, "AsyncAdapt_dbapi_connection", None)
    if "_execute_mutex" not in getattr(base, "__slots__", ()):
        found.append("AsyncAdapt_dbapi_connection._execute_mutex")
    if not isinstance(
        getattr(_sa_asyncpg.PGDialect_asyncpg, "_invalidate_schema_cache_asof", None), int
    ):
        found.append("PGDialect_asyncpg._invalidate_schema_cache_asof")
    handle = getattr(Connection, "_handle_dbapi_exception", None)
    if handle is None or list(inspect.signature(handle).parameters) != [
        "self",
        "e",
        "statement",
        "parameters",
        "cursor",
        "context",
        "is_sub_exec",
    ]:
        found.append("Connection._handle_dbapi_exception")
    if not isinstance(getattr(Engine, "_has_events", None), bool):
        found.append("Engine._has_events")
    source = inspect.getsource(Connection)
    found.extend(f"Connection: {name}" for name in _CONNECTION_ATTRIBUTES if name not in source)
    return found


def supported() -> bool:
    """The direct path may be taken: SQLAlchemy's code mirrored here is the code checked
    (computed once; a warning names what changed)."""
    global _supported
    if _supported is None:  # the first statement only
        try:
            moved = changed()
        except Exception as exc:  # anything unexpected: the safe path
            moved = [repr(exc)]
        _supported = not moved
        if moved:
            log.warning(
                "SQLAlchemy changed what bot/db/pgdriver.py mirrors (%s): statements go "
                "through SQLAlchemy's own path (slower, the same results)",
                ", ".join(moved),
            )
    return _supported


class _Context:
    """The part of an execution context ``Connection._handle_dbapi_exception`` uses: not an
    executemany, and the asyncpg context's own handling of a stale prepared statement (the
    dialect's schema cache is invalidated, as after a statement of SQLAlchemy's)."""

    __slots__ = ("dialect",)
    executemany = False
    handle_dbapi_exception = PGExecutionContext_asyncpg.handle_dbapi_exception

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect


class DriverResult:
    """The rows asyncpg returned (``asyncpg.Record``: indexable and iterable like a ``Row``)
    and the statement's status, with the parts of ``CursorResult`` the hot paths read."""

    __slots__ = ("_rows", "_status")

    def __init__(self, rows: Sequence[Any], status: str | None) -> None:
        self._rows = rows
        self._status = status

    def all(self) -> Sequence[Any]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            if not self._rows:
                raise NoResultFound("No row was found when one was required")
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0][0]

    @property
    def rowcount(self) -> int:
        """As the adapter reads it: the count ending ``UPDATE n``, ``INSERT 0 n``, ...; else -1."""
        status = self._status or ""
        verb, _, count = status.rpartition(" ")
        if verb.split(" ", 1)[0] in ("SELECT", "UPDATE", "DELETE", "INSERT") and count.isdigit():
            return int(count)
        return -1


async def _fetch(adapted: Any, sql: str, values: Sequence[Any], asof: float, begin: bool) -> Any:
    """``AsyncAdapt_asyncpg_cursor._prepare_and_execute`` for a client-side cursor; without
    ``begin``, asyncpg's transaction is not begun (the statement commits by itself)."""
    async with adapted._execute_mutex:
        if begin and adapted._transaction is None:
            await adapted._start_transaction()  # nothing in autocommit
        try:
            prepared, _attributes = await adapted._prepare(sql, asof)
            rows = await prepared.fetch(*values)
            return DriverResult(rows, prepared.get_statusmsg())
        except Exception as error:
            adapted._handle_exception(error)  # raises the adapter's DB-API error


def _run(
    connection: Connection, adapted: Any, sql: str, values: Sequence[Any], *, begin: bool
) -> DriverResult:
    """:func:`_fetch` on ``connection``'s adapted asyncpg connection, its errors through
    ``Connection._handle_dbapi_exception`` as SQLAlchemy's own statements' are."""
    dialect: Any = connection.dialect  # PGDialect_asyncpg
    try:
        return await_only(  # type: ignore[no-any-return]
            _fetch(adapted, sql, values, dialect._invalidate_schema_cache_asof, begin)
        )
    except BaseException as error:
        context: Any = _Context(dialect)
        connection._handle_dbapi_exception(error, sql, tuple(values), None, context)
        raise  # not reached: the call above raises


def execute(connection: Connection, sql: str, values: Sequence[Any]) -> Any:
    """Run ``sql`` (the dialect's positional SQL) with ``values`` (already through the bind
    processors) on ``connection``; a :class:`DriverResult`, or ``exec_driver_sql``'s
    ``CursorResult`` when the connection needs SQLAlchemy's full path."""
    if not supported():
        return connection.exec_driver_sql(sql, tuple(values))
    fairy = connection._dbapi_connection
    transaction = connection._transaction
    if (
        fairy is None  # invalidated or closed: SQLAlchemy revalidates or raises
        or transaction is None  # SQLAlchemy autobegins
        or not transaction.is_active  # SQLAlchemy raises PendingRollbackError
        or connection._nested_transaction is not None
        or connection._trans_context_manager is not None
        or connection._has_events
        or connection.engine._has_events  # e.g. a statement counter: it sees every statement
        or connection.dialect._has_events
        or connection._echo
    ):
        return connection.exec_driver_sql(sql, tuple(values))
    return _run(connection, fairy.dbapi_connection, sql, values, begin=True)


def execute_alone(engine: Engine, sql: str, values: Sequence[Any]) -> DriverResult | None:
    """Run ``sql`` as a transaction of its own (autocommit) on a connection checked out for it
    alone (pinged when idle, as any), without a session's transaction, execution options or
    commit; None when the engine needs SQLAlchemy's full path (events, echo)."""
    if not supported():
        return None
    if engine._has_events or engine.dialect._has_events or engine.echo:
        return None
    with engine.connect() as connection:  # given back (reset) at the end
        fairy = connection.connection
        adapted = fairy.dbapi_connection
        if connection._has_events or adapted is None or adapted._transaction is not None:
            return None  # (a pooled connection is checked in rolled back: not seen)
        return _run(connection, adapted, sql, values, begin=False)
