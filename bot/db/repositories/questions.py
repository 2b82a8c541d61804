"""The question log: every question asked, with the answer's clauses and confidence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import DriverStatement, run_driver, scalar_one
from bot.db.models.knowledge import Question

_TABLE: Table = Question.__table__  # type: ignore[assignment]
# Built once: the values are the execution's parameters, so neither the statement nor its
# cache key is made again for every question (issue 18); sent as SQL compiled once per set of
# columns given (:class:`bot.db.base.DriverStatement`).
_ADD = DriverStatement(insert(_TABLE).returning(_TABLE.c.id))


async def add(session: AsyncSession, **fields: Any) -> Question:
    """Store a question with one Core ``INSERT … RETURNING id`` (no unit of work, issue 18);
    the row handed back is a plain (transient) Question for the caller to read, not tracked by
    the session."""
    question_id = await run_driver(session, _ADD, fields, fetch=scalar_one)
    return Question(id=question_id, **fields)


async def get(session: AsyncSession, question_id: int) -> Question | None:
    return await session.get(Question, question_id)


async def recent(session: AsyncSession, user_id: int, *, limit: int = 3) -> list[Question]:
    """The user's last ``limit`` questions, newest first."""
    return list(
        await session.scalars(
            select(Question)
            .where(Question.user_id == user_id)
            .order_by(Question.created_at.desc(), Question.id.desc())
            .limit(limit)
        )
    )


async def previous(session: AsyncSession, user_id: int) -> Question | None:
    """The user's last stored question (by id: the order they were stored in)."""
    return await session.scalar(
        select(Question).where(Question.user_id == user_id).order_by(Question.id.desc()).limit(1)
    )
