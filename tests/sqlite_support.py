"""What both SQLite adapters (the one-hop engine and the inline one) must do alike."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.base import create_sessionmaker, utcnow
from bot.db.models.reliability import ProcessedUpdate

TABLE: Any = ProcessedUpdate.__table__


def row(update_id: int) -> dict[str, Any]:
    return {"bot_id": 1, "update_id": update_id, "claimed_at": utcnow()}


async def assert_results_rowcounts_and_errors(engine: AsyncEngine) -> None:
    """RETURNING, an executemany's rowcount, an IntegrityError and its rollback, reads back:
    as aiosqlite gives them."""
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        returned = await session.execute(insert(TABLE).returning(TABLE.c.update_id), row(1))
        assert returned.scalar_one() == 1
        many = await session.execute(insert(TABLE), [row(2), row(3), row(4)])
        assert many.rowcount == 3
        await session.commit()
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await session.execute(insert(TABLE), row(2))
        await session.rollback()
        await session.execute(insert(TABLE), row(5))
        await session.commit()
    async with sessions() as session:
        ids = (await session.execute(select(TABLE.c.update_id).order_by(TABLE.c.update_id))).all()
        assert [i for (i,) in ids] == [1, 2, 3, 4, 5]
