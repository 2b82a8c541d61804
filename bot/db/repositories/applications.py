"""Applications as other areas read them (the helpdesk card): a user's latest ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from bot.db.models.applications import Application


async def recent_of_user(
    session: AsyncSession, user_id: int, *, limit: int = 10
) -> list[Application]:
    """The user's last ``limit`` applications, newest first (their events and consents not
    loaded)."""
    return list(
        await session.scalars(
            select(Application)
            .options(raiseload("*"))
            .where(Application.user_id == user_id)
            .order_by(Application.created_at.desc(), Application.id.desc())
            .limit(limit)
        )
    )
