"""``bot.db.pgdriver``: the hot statements sent to asyncpg directly on PostgreSQL (issue 18).

The module mirrors a few of SQLAlchemy's internals; the first tests fail when those move or
the code mirrored changes (after an upgrade: re-read the code named, adapt
``bot/db/pgdriver.py``, then update the digests here). The others check, on PostgreSQL, that
the direct path is the one taken and keeps SQLAlchemy's transactions: a statement in a
session's transaction is part of it, one in autocommit leaves no transaction open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.db import pgdriver
from bot.db.base import (
    DriverStatement,
    create_engine,
    create_sessionmaker,
    run_driver,
    scalar_one,
    utcnow,
)
from bot.db.models import Question, User
from bot.db.models.reliability import InboxUpdate
from bot.db.repositories import questions as question_log
from bot.inbox import DONE, Inbox

CHECKED_WITH = "2.1.9"  # the SQLAlchemy release bot/db/pgdriver.py's digests were read in


def test_the_sqlalchemy_code_mirrored_is_the_code_checked() -> None:
    """On the release the module was written against, everything it relies on is there and
    unchanged, so the direct path is on; on another, the module says what moved (a skip here,
    and a warning at run time: that release runs SQLAlchemy's own path)."""
    moved = pgdriver.changed()
    if sqlalchemy.__version__ != CHECKED_WITH:
        pytest.skip(f"SQLAlchemy {sqlalchemy.__version__}: re-read {moved or 'nothing moved'}")
    assert moved == []
    assert pgdriver.supported()


def test_a_changed_sqlalchemy_turns_the_direct_path_off_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    name = next(iter(pgdriver.MIRRORED))
    monkeypatch.setitem(pgdriver.MIRRORED, name, "0" * 16)
    monkeypatch.setattr(pgdriver, "_supported", None)
    assert pgdriver.changed() == [name]
    assert not pgdriver.supported()
    assert name in caplog.text and "SQLAlchemy's own path" in caplog.text


def test_a_driver_result_reads_as_sqlalchemys_result() -> None:
    one = pgdriver.DriverResult([(7, "x")], "INSERT 0 1")
    assert one.scalar_one() == 7 and one.scalar() == 7 and one.all() == [(7, "x")]
    assert one.rowcount == 1
    assert pgdriver.DriverResult([], "UPDATE 12").rowcount == 12
    assert pgdriver.DriverResult([], "UPDATE 0").rowcount == 0
    assert pgdriver.DriverResult([], "CREATE TABLE").rowcount == -1
    assert pgdriver.DriverResult([], None).rowcount == -1
    assert pgdriver.DriverResult([], "UPDATE 0").scalar() is None
    with pytest.raises(NoResultFound):
        pgdriver.DriverResult([], "SELECT 0").scalar_one()
    with pytest.raises(MultipleResultsFound):
        pgdriver.DriverResult([(1,), (2,)], "SELECT 2").scalar_one()


@pytest.fixture
async def sessionmaker(
    postgres_url: str | None,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (set TEST_POSTGRES_URL)")
    from tests.conftest import _truncate_pg

    await _truncate_pg(postgres_url)
    engine = create_engine(postgres_url)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        session.add(User(id=5, first_name="A", created_at=utcnow(), last_seen_at=utcnow()))
        await session.commit()
    try:
        yield maker
    finally:
        await engine.dispose()


def _question(text: str) -> dict[str, Any]:
    return {
        "user_id": 5,
        "text": text,
        "language": "en",
        "clauses": ["1.1"],
        "confidence": 0.5,
        "kind": "answer",
        "top_clause": "1.1",
        "faq_key": None,
        "created_at": utcnow(),
    }


async def _texts(maker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with maker() as session:
        return list(await session.scalars(select(Question.text).order_by(Question.id)))


def _refuse(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, what: str) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError(what)

    monkeypatch.setattr(owner, name, refuse)


def _refuse_sqlalchemys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    if not pgdriver.supported():
        pytest.skip(f"SQLAlchemy {sqlalchemy.__version__}: the direct path is off")
    _refuse(
        monkeypatch, Connection, "exec_driver_sql", "sent through SQLAlchemy's exec_driver_sql"
    )


@pytest.mark.postgres
async def test_with_the_direct_path_off_statements_go_through_sqlalchemy_and_are_stored(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a SQLAlchemy release that changed the mirrored code runs (see the first tests)."""
    monkeypatch.setattr(pgdriver, "_supported", False)

    async def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("asyncpg called directly")

    monkeypatch.setattr(pgdriver, "_fetch", refuse)
    async with sessionmaker() as session:
        question = await question_log.add(session, **_question("in a transaction"))
        await session.commit()
    inbox = Inbox(sessionmaker)
    await inbox.store(1, [{"update_id": 10}])
    claimed = await inbox.claim(1, 5)  # alone and committed: autocommit, as before
    assert [row.update_id for row in claimed] == [10]
    async with sessionmaker() as session:
        await Inbox.mark_done(session, 1, 10, commit=True, alone=True)
    assert await _texts(sessionmaker) == ["in a transaction"] and question.id is not None
    async with sessionmaker() as session:
        assert list(await session.scalars(select(InboxUpdate.status))) == [DONE]


@pytest.mark.postgres
async def test_a_question_in_a_transaction_is_stored_with_it_and_rolled_back_with_it(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    _refuse_sqlalchemys_path(monkeypatch)
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))  # the session's transaction, begun by SQLAlchemy
        await question_log.add(session, **_question("rolled back"))
        assert await _texts(sessionmaker) == []  # not committed: another connection sees nothing
        await session.rollback()
        kept = await question_log.add(session, **_question("kept"))
        await session.commit()
    assert await _texts(sessionmaker) == ["kept"]
    assert kept.id == 2  # the rolled-back INSERT took id 1 from the sequence


@pytest.mark.postgres
async def test_an_autocommit_statement_leaves_no_transaction_open(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = Inbox(sessionmaker)
    await inbox.store(1, [{"update_id": 10}, {"update_id": 11}])
    _refuse_sqlalchemys_path(monkeypatch)
    first, _ = await inbox.claim(1, 5)
    assert (first.update_id, first.payload, first.attempt) == (10, {"update_id": 10}, 1)
    async with sessionmaker() as session:
        await Inbox.mark_done(session, 1, 10, commit=True, alone=False)  # in a transaction
        await Inbox.mark_done(session, 1, 11, alone=True)  # autocommit, not committed by us
        raw = (await session.connection()).sync_connection
        assert raw is not None
        assert not raw.connection.driver_connection.is_in_transaction()  # type: ignore[union-attr]
        await session.rollback()  # changes nothing: the done-mark was committed by itself
    async with sessionmaker() as session:
        statuses = select(InboxUpdate.status).order_by(InboxUpdate.update_id)
        assert list(await session.scalars(statuses)) == [DONE, DONE]


@pytest.mark.postgres
async def test_with_a_statement_listener_the_statements_go_through_sqlalchemy(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A listener on the engine (a statement counter, a tracer) sees every statement."""
    seen: list[str] = []
    engine = sessionmaker.kw["bind"].sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", record)
    try:
        async with sessionmaker() as session:
            await question_log.add(session, **_question("counted"))
            await session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen == ["INSERT"]
    assert await _texts(sessionmaker) == ["counted"]


def _ignore(*_: Any) -> None:
    pass


@pytest.mark.postgres
async def test_a_statement_after_a_failed_one_fails_as_sqlalchemys_did(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """In a transaction PostgreSQL aborted, the next statement fails the same way on either
    path (the session is not told of the first failure: Core statements)."""
    engine = sessionmaker.kw["bind"].sync_engine
    failures = []
    for through_sqlalchemy in (False, True):
        if through_sqlalchemy:  # a listener sends the statements through SQLAlchemy's path
            event.listen(engine, "before_cursor_execute", _ignore)
        async with sessionmaker() as session:
            with pytest.raises(IntegrityError):
                await question_log.add(session, **{**_question("x"), "user_id": 404})
            with pytest.raises(DBAPIError) as second:
                await question_log.add(session, **_question("y"))
            failures.append((type(second.value), type(second.value.orig)))
    event.remove(engine, "before_cursor_execute", _ignore)
    assert failures[0] == failures[1]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Question)) == 0


def _refuse_session_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    _refuse(monkeypatch, Session, "connection", "a connection procured through the session")


@pytest.mark.postgres
async def test_a_statement_alone_and_committed_needs_no_session_connection(
    sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inbox's claim and done-mark, committed at once on their own, run in autocommit on a
    pooled connection of their own: stored and visible when the call returns."""
    inbox = Inbox(sessionmaker)
    await inbox.store(1, [{"update_id": 10}, {"update_id": 11}])
    _refuse_sqlalchemys_path(monkeypatch)
    _refuse_session_connections(monkeypatch)
    claimed = await inbox.claim(1, 5)
    assert [row.update_id for row in claimed] == [10, 11]
    async with sessionmaker() as session:
        await Inbox.mark_done(session, 1, 10, commit=True, alone=True)
        assert session.get_transaction() is None
    monkeypatch.undo()
    async with sessionmaker() as session:
        statuses = select(InboxUpdate.status).order_by(InboxUpdate.update_id)
        assert list(await session.scalars(statuses)) == [DONE, "pending"]


_ADD_ALONE = DriverStatement(insert(Question.__table__).returning(Question.__table__.c.id))


@pytest.mark.postgres
async def test_a_failing_statement_alone_raises_sqlalchemys_error_and_the_session_goes_on(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        with pytest.raises(IntegrityError):
            await run_driver(
                session,
                _ADD_ALONE,
                {**_question("x"), "user_id": 404},
                alone=True,
                commit=True,
                fetch=scalar_one,
            )
        new_id = await run_driver(
            session, _ADD_ALONE, _question("y"), alone=True, commit=True, fetch=scalar_one
        )
    assert await _texts(sessionmaker) == ["y"] and new_id == 2
