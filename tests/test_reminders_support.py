"""Shared by the issue-5 tests: a fake clock and quick ways to make users, groups, services."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update

from bot.budget import MemoryStore, OutgoingBudget, install_budget
from bot.db.models import User
from bot.db.models.groups import CuratorGroup, GroupMember, StudentProfile
from bot.services.broadcast import BroadcastService
from bot.services.calendar import EventSpec
from bot.services.reminders import ReminderService
from tests.harness import Harness

# 2026-09-01 06:00 UTC is 11:00 in Atyrau (UTC+5).
DAY = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)

ORIENTATION = EventSpec(
    kind="orientation",
    title_kk="Бейімдеу аптасы",
    title_ru="Адаптационная неделя",
    title_en="Orientation week",
    starts_on=date(2026, 9, 7),
    ends_on=date(2026, 9, 11),
    audience="online",
)
DEADLINE = EventSpec(
    kind="application_deadline",
    title_kk="Өтініш",
    title_ru="Заявление",
    title_en="Application",
    starts_on=date(2026, 9, 10),
    ends_on=None,
)


class FakeClock:
    """Monotonic seconds and a wall clock that move only when someone sleeps."""

    def __init__(self, start: datetime = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)) -> None:
        self.mono = 1000.0
        self.start = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.mono - 1000.0)

    def advance(self, seconds: float) -> None:
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.mono += max(seconds, 0.0)
        await asyncio.sleep(0)


def services(
    harness: Harness, clock: FakeClock, **kwargs: Any
) -> tuple[BroadcastService, ReminderService]:
    ctx = harness.ctx
    broadcasts = BroadcastService(
        ctx.settings,
        ctx.sessionmaker,
        now=clock.now,
        clock=clock.monotonic,
        sleep=clock.sleep,
        **kwargs,
    )
    reminders = ReminderService(ctx.settings, ctx.sessionmaker, broadcasts, now=clock.now)
    return broadcasts, reminders


def budget_on(harness: Harness, clock: FakeClock, **kwargs: Any) -> OutgoingBudget:
    """The bot's outgoing budget (in process) on the fake clock, installed on the test bot."""
    budget = OutgoingBudget(
        MemoryStore(clock.monotonic), clock=clock.monotonic, sleep=clock.sleep, **kwargs
    )
    install_budget(harness.bot, budget)
    return budget


async def make_user(
    harness: Harness,
    user_id: int,
    *,
    lang: str | None = "kk",
    role: str = "student",
    profile: dict[str, Any] | None = None,
    groups: tuple[int, ...] = (),
    active: bool = True,
) -> None:
    async with harness.ctx.sessionmaker() as session, session.begin():
        session.add(
            User(id=user_id, first_name=f"U{user_id}", language=lang, role=role, is_active=active)
        )
        await session.flush()
        if profile is not None:
            session.add(StudentProfile(user_id=user_id, **profile))
        for group_id in groups:
            session.add(GroupMember(group_id=group_id, user_id=user_id))


async def make_group(harness: Harness, curator_id: int, name: str, code: str) -> int:
    async with harness.ctx.sessionmaker() as session, session.begin():
        group = CuratorGroup(curator_id=curator_id, name=name, invite_code=code)
        session.add(group)
        await session.flush()
        return group.id


async def set_role(harness: Harness, user_id: int, role: str) -> None:
    async with harness.ctx.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(role=role))
