"""The academic calendar's events as the lists show them: upcoming, in date order, by page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.reminders import CalendarEvent


def _upcoming(today: date) -> Any:
    """Events that have not ended by ``today``."""
    return (CalendarEvent.starts_on >= today) | (CalendarEvent.ends_on >= today)


@dataclass(frozen=True)
class CalendarPage:
    events: list[CalendarEvent]
    page: int  # 0-based, clamped to the pages there are
    pages: int  # at least 1
    total: int


async def upcoming(session: AsyncSession, today: date) -> list[CalendarEvent]:
    """Every event not over by ``today``, by start date."""
    return list(
        await session.scalars(
            select(CalendarEvent)
            .where(_upcoming(today))
            .order_by(CalendarEvent.starts_on, CalendarEvent.id)
        )
    )


async def upcoming_page(
    session: AsyncSession, today: date, page: int, page_size: int
) -> CalendarPage:
    """One page of :func:`upcoming`; a page out of range gives the nearest one."""
    total = int(
        await session.scalar(
            select(func.count()).select_from(CalendarEvent).where(_upcoming(today))
        )
        or 0
    )
    pages = max(1, -(-total // page_size))
    page = min(max(page, 0), pages - 1)
    events = list(
        await session.scalars(
            select(CalendarEvent)
            .where(_upcoming(today))
            .order_by(CalendarEvent.starts_on, CalendarEvent.id)
            .offset(page * page_size)
            .limit(page_size)
        )
    )
    return CalendarPage(events=events, page=page, pages=pages, total=total)
