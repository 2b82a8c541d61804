"""The hot statements sent as precompiled SQL (issue 18, ``bot.db.base.DriverStatement``) store
exactly what SQLAlchemy stored, fail as SQLAlchemy's statements failed, and keep the order of
an update's writes: the question is committed before the reply reaches the student.

Each runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import Update
from sqlalchemy import event, func, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot import inbox as inbox_module
from bot.db.base import utcnow
from bot.db.models import Question, User
from bot.db.models.reliability import InboxUpdate
from bot.db.repositories import questions as question_log
from bot.inbox import DONE, Inbox
from bot.services.users import UserRepository
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness

QUESTION = "How is the final exam held?"
WHEN = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


async def _user(harness: Harness, user_id: int) -> None:
    async with harness.ctx.sessionmaker() as session:
        session.add(User(id=user_id, first_name="A", created_at=WHEN, last_seen_at=WHEN))
        await session.commit()


async def _raw(harness: Harness, sql: str) -> list[tuple[Any, ...]]:
    """Rows as the database driver gives them (no SQLAlchemy type processing)."""
    async with harness.ctx.sessionmaker() as session:
        return [tuple(row) for row in await session.execute(text(sql))]


async def test_a_stored_question_reads_back_as_one_stored_by_sqlalchemy(harness: Harness) -> None:
    await _user(harness, 5)
    fields = {
        "user_id": 5,
        "text": "Ёмтихан қашан? — exam «when»",
        "language": "kk",
        "clauses": ["4.2", "7.1"],
        "confidence": 0.75,
        "kind": "answer",
        "top_clause": "4.2",
        "faq_key": None,
        "created_at": WHEN.astimezone(timezone_plus_five()),  # stored as UTC all the same
    }
    async with harness.ctx.sessionmaker() as session:
        stored = await question_log.add(session, **fields)
        await session.execute(insert(Question.__table__), fields)  # SQLAlchemy's own way
        await session.commit()
    assert stored.id == 1
    columns = "user_id, text, language, clauses, confidence, kind, top_clause, faq_key, created_at"
    ours, sqlalchemys = await _raw(harness, f"SELECT {columns} FROM questions ORDER BY id")
    assert ours == sqlalchemys
    async with harness.ctx.sessionmaker() as session:
        first, second = await session.scalars(select(Question).order_by(Question.id))
    assert first.created_at == second.created_at == WHEN
    assert first.clauses == ["4.2", "7.1"] and first.text == fields["text"]


def timezone_plus_five() -> timezone:
    return timezone(timedelta(hours=5))


async def test_the_inbox_claim_and_done_mark_store_what_sqlalchemy_stored(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "utcnow", lambda: WHEN)
    inbox = Inbox(harness.ctx.sessionmaker, lease_seconds=30, owner="me")
    await inbox.store(7, [{"update_id": n} for n in (1, 2, 3)])
    claimed = await inbox.claim(7, 2)
    assert [(row.update_id, row.attempt, row.payload) for row in claimed] == [
        (1, 1, {"update_id": 1}),
        (2, 1, {"update_id": 2}),
    ]
    async with harness.ctx.sessionmaker() as session:
        await Inbox.mark_done(session, 7, 1, commit=True, alone=True)
        # row 3 as SQLAlchemy's statements would have leased it and marked it done
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == 3)
            .values(lease_until=WHEN + timedelta(seconds=30), lease_owner="me", attempts=1)
        )
        await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.update_id == 3)
            .values(status=DONE, lease_until=None, done_at=WHEN, error=None)
        )
        await session.commit()
    rows = await _raw(
        harness,
        "SELECT update_id, status, lease_until, lease_owner, attempts, done_at, error "
        "FROM update_inbox ORDER BY update_id",
    )
    done_by_us, leased_by_us, done_by_sqlalchemy = rows
    assert done_by_us[1:] == done_by_sqlalchemy[1:]
    async with harness.ctx.sessionmaker() as session:
        leased = await session.get(InboxUpdate, (7, 2))
        assert leased is not None
    assert leased.lease_until == WHEN + timedelta(seconds=30) and leased.status == "pending"
    assert (
        leased_by_us[2]
        == (await _raw(harness, "SELECT lease_until FROM update_inbox WHERE update_id = 2"))[0][0]
    )
    assert await inbox.pending(7) == 1


async def test_a_failing_precompiled_statement_raises_sqlalchemys_error(harness: Harness) -> None:
    """A question for a user who does not exist breaks the foreign key: the same
    IntegrityError as before, and the session can go on after a rollback."""
    await _user(harness, 5)
    fields = {
        "user_id": 404,
        "text": "?",
        "language": "en",
        "clauses": [],
        "confidence": 0.0,
        "kind": "answer",
        "top_clause": None,
        "faq_key": None,
        "created_at": utcnow(),
    }
    async with harness.ctx.sessionmaker() as session:
        with pytest.raises(IntegrityError):
            await question_log.add(session, **fields)
        await session.rollback()
        row = await question_log.add(session, **{**fields, "user_id": 5})
        await session.commit()
    async with harness.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Question)) == 1
    assert row.user_id == 5


async def test_the_question_is_committed_before_the_student_reads_the_reply(
    harness: Harness,
) -> None:
    """Fed directly and through the inbox: when the answer goes out, another connection
    already sees the question."""
    seen: list[int] = []

    async def count_questions(
        make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        if isinstance(method, SendMessage):
            async with harness.ctx.sessionmaker() as other:
                seen.append(int(await other.scalar(select(func.count()).select_from(Question))))
        return await make_request(bot, method)

    harness.bot.session.middleware(count_questions)
    await harness.send(QUESTION)
    inbox: Inbox = harness.dp["reliability"].inbox
    payload = {"update_id": 500, "message": harness.message_payload(STUDENT, text=QUESTION)}
    await inbox.store(harness.bot.id, [payload])
    (row,) = await inbox.claim(harness.bot.id, 10)
    update = Update.model_validate(row.payload, context={"bot": harness.bot})
    await harness.dp.feed_update(harness.bot, update, inbox_attempt=row.attempt)
    assert seen[-2:] == [1, 2]
    assert await inbox.pending(harness.bot.id) == 0


@pytest.mark.postgres
async def test_after_postgresql_drops_the_connections_the_next_question_is_answered(
    postgres_url: str | None,
) -> None:
    """A statement meeting a connection the server closed fails once (a DBAPIError that
    invalidates the pool, as with SQLAlchemy's statements); the student's next message is
    answered on fresh connections."""
    import asyncpg

    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (set TEST_POSTGRES_URL)")
    from tests.conftest import _truncate_pg

    await _truncate_pg(postgres_url)
    harness = await Harness.create(postgres_url)
    pids: list[int] = []  # this test's connections (other tests may share the database)

    def opened(dbapi_connection: Any, _record: Any) -> None:
        pids.append(dbapi_connection.driver_connection.get_server_pid())

    try:
        await harness.ctx.engine.dispose()  # from here every connection is seen opening
        event.listen(harness.ctx.engine.sync_engine, "connect", opened)
        await harness.send(QUESTION)
        assert len(harness.session.of(SendMessage)) == 1 and pids
        admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:  # what a server restart does to the pool's connections
            await admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM unnest($1::int[]) pid", pids
            )
        finally:
            await admin.close()
        inbox: Inbox = harness.dp["reliability"].inbox
        with pytest.raises(DBAPIError) as failed:
            await inbox.claim(harness.bot.id, 10)  # on a connection the server closed
        assert failed.value.connection_invalidated
        await harness.send(QUESTION)
        assert len(harness.session.of(SendMessage)) == 2
        async with harness.ctx.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Question)) == 2
    finally:
        await harness.close()


async def test_a_new_students_row_is_the_row_the_database_holds(harness: Harness) -> None:
    """First contact inserts the user with precompiled SQL; the row handed to the handlers
    (and kept in the hot cache) has every column loaded, equal to what a fresh read returns."""
    await harness.send("/start", user=STUDENT_EN)
    assert "Choose your language" in harness.last_text()  # the first contact's own row
    async with harness.ctx.sessionmaker() as session:
        repo = UserRepository(session)
        made, created = await repo.touch(STUDENT_RU)
        assert created and not inspect(made).unloaded and not session.dirty
        await session.commit()
    async with harness.ctx.sessionmaker() as session:
        stored = await session.get(User, STUDENT_RU.id)
        assert stored is not None
        columns = [attr.key for attr in inspect(User).column_attrs]
        assert {c: getattr(made, c) for c in columns} == {c: getattr(stored, c) for c in columns}
    assert made.channel == "telegram" and made.role == "student" and made.language is None
