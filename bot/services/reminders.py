"""Reminder jobs from the academic calendar: planned when an event is added, fanned out when due.

A job is one stage of one event (``orientation_before``, ``deadline_1d`` …), stored with its due
time already moved out of quiet hours. ``tick(now)`` (the worker's step) drops jobs older than
``REMINDER_GRACE_HOURS`` (a restart after a long outage does not send stale reminders), does
nothing during quiet hours, and otherwise claims due jobs and turns each into a ``reminder``
broadcast with one delivery row per recipient, in the same transaction: a crash either leaves
the job pending or leaves it done with all its deliveries recorded. Delivery (pacing, each
recipient in their own language, at most once) is :mod:`bot.services.broadcast`'s job.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiogram import Bot
from aiogram.utils.i18n import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.base import utcnow
from bot.db.models import Role, User
from bot.db.models.broadcasts import Broadcast
from bot.db.models.groups import StudentProfile
from bot.db.models.reminders import Audience, CalendarEvent, EventKind, ReminderJob
from bot.db.repositories import calendar as calendar_repo
from bot.db.repositories import groups as group_repo
from bot.services.broadcast import BroadcastService, fan_out
from bot.services.calendar import (
    EventSpec,
    add_events,
    content_deadline,
    in_quiet_hours,
    local_at,
    out_of_quiet_hours,
    subtract_working_days,
)
from bot.workers import run_worker_loop

log = logging.getLogger(__name__)

CONTENT_REMINDER_LEAD = 2  # working days before the 6.9.2 deadline that teachers are reminded


@dataclass(frozen=True)
class Stage:
    name: str
    pref: str | None  # the student's on/off switch, None = teaching staff (no switch)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("orientation_before", "remind_orientation"),
        Stage("orientation_start", "remind_orientation"),
        Stage("orientation_followup", "remind_orientation"),
        Stage("deadline_3d", "remind_deadlines"),
        Stage("deadline_1d", "remind_deadlines"),
        Stage("content_due", None),
    )
}


def stage_times(event: CalendarEvent | EventSpec) -> list[tuple[str, date, time]]:
    """(stage, local day, local time) of each reminder an event gets."""
    kind = event.kind
    if kind == EventKind.ORIENTATION:
        last = event.ends_on or event.starts_on + timedelta(days=4)
        return [
            ("orientation_before", event.starts_on - timedelta(days=3), time(10, 0)),
            ("orientation_start", event.starts_on, time(9, 0)),
            ("orientation_followup", last + timedelta(days=1), time(12, 0)),
        ]
    if kind in (EventKind.APPLICATION_DEADLINE, EventKind.EXAM_DEADLINE):
        return [
            ("deadline_3d", event.starts_on - timedelta(days=3), time(10, 0)),
            ("deadline_1d", event.starts_on - timedelta(days=1), time(10, 0)),
        ]
    if kind == EventKind.PERIOD:
        remind_on = subtract_working_days(content_deadline(event.starts_on), CONTENT_REMINDER_LEAD)
        return [("content_due", remind_on, time(9, 0))]
    return []


def fmt_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


async def event_audience(
    session: AsyncSession, event: CalendarEvent, stage: str
) -> dict[str, Any]:
    """The stored audience of a reminder broadcast for ``stage`` of ``event``."""
    spec = STAGES[stage]
    if spec.pref is None:
        return {"roles": [Role.CURATOR.value, Role.STAFF.value]}
    audience: dict[str, Any] = {"pref": spec.pref}
    value = event.audience_value
    if event.audience == Audience.ONLINE:
        audience["study_form"] = "online"
    elif event.audience == Audience.DISTANCE:
        audience["study_form"] = "distance"
    elif event.audience == Audience.FACULTY:
        audience["faculty"] = value
    elif event.audience == Audience.COURSE:
        audience["course_year"] = int(value or 0)
    elif event.audience == Audience.GROUP:
        if value and value.isdigit():
            group_id: int | None = int(value)
        else:
            group_id = await group_repo.id_by_name(session, value)
        audience["groups"] = [group_id or -1]
    return audience


def event_concerns(
    event: CalendarEvent, profile: StudentProfile | None, group_ids: set[int]
) -> bool:
    """Whether a student with this profile is in the event's audience (for /reminders)."""
    a, value = event.audience, event.audience_value
    if a == Audience.ALL:
        return True
    if profile is None:
        return a == Audience.GROUP and bool(value and value.isdigit() and int(value) in group_ids)
    if a == Audience.ONLINE:
        return profile.study_form == "online"
    if a == Audience.DISTANCE:
        return profile.study_form == "distance"
    if a == Audience.FACULTY:
        return (profile.faculty or "").lower() == (value or "").lower()
    if a == Audience.COURSE:
        return str(profile.course_year or "") == (value or "")
    return bool(value and value.isdigit() and int(value) in group_ids)


async def render_reminder(session: AsyncSession, job_id: int, lang: str) -> str:
    """The reminder text in the current locale (the caller sets it to the recipient's)."""
    job = await session.get(ReminderJob, job_id)
    assert job is not None
    event = await session.get(CalendarEvent, job.event_id)
    assert event is not None
    title = html.escape(event.title(lang), quote=False)  # staff-typed, sent as HTML
    start = fmt_date(event.starts_on)
    if job.stage == "orientation_before":
        return _(
            "📅 Orientation week «{title}» starts on {date}. It presents the University's "
            "digital resources and how online learning works (clause 6.18.4)."
        ).format(title=title, date=start)
    if job.stage == "orientation_start":
        return _(
            "👋 Orientation week «{title}» starts today, {date}. Join the sessions: they show "
            "the portal, your courses and where to get help (clause 6.18.4)."
        ).format(title=title, date=start)
    if job.stage == "orientation_followup":
        return _(
            "How did orientation week «{title}» go? If something about the portal or your "
            "courses is still unclear, ask me here or write /human."
        ).format(title=title)
    if job.stage == "deadline_3d":
        return _("⏰ Deadline in 3 days: «{title}» — {date}.").format(title=title, date=start)
    if job.stage == "deadline_1d":
        return _("⏰ The deadline is tomorrow: «{title}» — {date}.").format(
            title=title, date=start
        )
    return _(
        "📚 For teaching staff: the academic period «{title}» starts on {start}. Digital "
        "content must be on the University portal by {deadline}, at least 5 working days "
        "before the period starts (clause 6.9.2; weekends and public holidays are not counted)."
    ).format(title=title, start=start, deadline=fmt_date(content_deadline(event.starts_on)))


class ReminderService:
    """Plans jobs for calendar events and fans due ones out (``run_forever`` / ``tick``)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        broadcasts: BroadcastService,
        *,
        now: Callable[[], datetime] = utcnow,
        interval: float = 30.0,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.broadcasts = broadcasts
        self.now = now
        self.interval = interval
        self.stopping = asyncio.Event()
        broadcasts.reminder_renderer = render_reminder

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.settings.reminder_grace_hours)

    def due_at(self, day: date, at: time) -> datetime:
        s = self.settings
        moment = local_at(day, at, s.tz).astimezone(utcnow().tzinfo)
        return out_of_quiet_hours(moment, s.tz, s.quiet_hours_start, s.quiet_hours_end)

    async def plan(self, session: AsyncSession, event: CalendarEvent) -> int:
        """Create the event's reminder jobs (idempotent); stale ones are not created."""
        now = self.now()
        values = []
        for stage, day, at in stage_times(event):
            due = self.due_at(day, at)
            if due < now - self.grace:
                continue
            values.append(
                {
                    "event_id": event.id,
                    "stage": stage,
                    "due_at": due,
                    "status": "pending",
                    "created_at": now,
                }
            )
        if not values:
            return 0
        insert = pg_insert if self.settings.is_postgres else sqlite_insert
        await session.execute(
            insert(ReminderJob)
            .values(values)
            .on_conflict_do_nothing(index_elements=["event_id", "stage"])
        )
        return len(values)

    async def add_and_plan(
        self, session: AsyncSession, specs: list[EventSpec], *, created_by: int | None = None
    ) -> list[CalendarEvent]:
        events = await add_events(session, specs, created_by=created_by)
        for event in events:
            await self.plan(session, event)
        return events

    # For /calendar (staff) -----------------------------------------------------------------

    async def pending_count(self, session: AsyncSession, event_id: int) -> int:
        """How many of the event's reminders are planned and not sent yet."""
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ReminderJob)
                .where(ReminderJob.event_id == event_id, ReminderJob.status == "pending")
            )
            or 0
        )

    async def remove(self, session: AsyncSession, event: CalendarEvent) -> None:
        """Delete the event and its pending reminders."""
        await session.execute(
            delete(ReminderJob).where(
                ReminderJob.event_id == event.id, ReminderJob.status == "pending"
            )
        )
        await session.delete(event)
        await session.flush()

    async def reschedule(
        self, session: AsyncSession, event: CalendarEvent, starts_on: date, ends_on: date | None
    ) -> int:
        """Move the event to new dates and plan its reminders again, as :meth:`add_and_plan`
        does: the pending ones are dropped and planned from the new dates; the ones already sent
        (or dropped as stale) stay, and their stage is not planned again (one job per stage).
        Returns how many reminders are now pending."""
        if ends_on is not None and ends_on < starts_on:
            raise ValueError(f"ends_on {ends_on} is before starts_on {starts_on}")
        await session.execute(
            delete(ReminderJob).where(
                ReminderJob.event_id == event.id, ReminderJob.status == "pending"
            )
        )
        event.starts_on = starts_on
        event.ends_on = ends_on
        await session.flush()
        await self.plan(session, event)
        return await self.pending_count(session, event.id)

    async def tick(self, now: datetime | None = None) -> int:
        """Drop stale jobs; outside quiet hours, fan due ones out. Returns jobs started."""
        now = now or self.now()
        s = self.settings
        stale = (ReminderJob.status == "pending", ReminderJob.due_at < now - self.grace)
        async with self.sessionmaker() as session, session.begin():
            # Read before writing: an idle tick takes no write lock (SQLite).
            if await session.scalar(select(ReminderJob.id).where(*stale).limit(1)) is not None:
                await session.execute(
                    update(ReminderJob)
                    .where(*stale)
                    .values(status="dropped", done_at=now)
                    .execution_options(synchronize_session=False)
                )
        if in_quiet_hours(now, s.tz, s.quiet_hours_start, s.quiet_hours_end):
            return 0
        async with self.sessionmaker() as session, session.begin():
            candidates = (
                select(ReminderJob.id)
                .where(ReminderJob.status == "pending", ReminderJob.due_at <= now)
                .order_by(ReminderJob.due_at, ReminderJob.id)
                .limit(50)
            )
            if await session.scalar(candidates) is None:
                return 0
            if s.is_postgres:
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(
                await session.scalars(
                    update(ReminderJob)
                    .where(
                        ReminderJob.id.in_(candidates.scalar_subquery()),
                        ReminderJob.status == "pending",
                    )
                    .values(status="done", done_at=now)
                    .returning(ReminderJob.id)
                    .execution_options(synchronize_session=False)
                )
            )
            for job_id in ids:
                job = await session.get(ReminderJob, job_id)
                assert job is not None
                event = await session.get(CalendarEvent, job.event_id)
                assert event is not None
                broadcast = Broadcast(
                    kind="reminder",
                    reminder_job_id=job.id,
                    audience=await event_audience(session, event, job.stage),
                    status="scheduled",
                    text="",
                )
                session.add(broadcast)
                await session.flush()
                await fan_out(session, broadcast, s.default_language)
        if ids:
            self.broadcasts.wake()
        return len(ids)

    async def run_forever(self, bot: Bot) -> None:
        await run_worker_loop(
            lambda: self.tick(),
            stopping=self.stopping,
            interval=self.interval,
            what="reminder tick",
        )

    def request_stop(self) -> None:
        """Shutdown: let the tick in hand finish, then leave ``run_forever``."""
        self.stopping.set()

    # For /reminders -----------------------------------------------------------------------

    async def upcoming_for(
        self, session: AsyncSession, user: User, *, limit: int = 8
    ) -> list[CalendarEvent]:
        today = self.now().astimezone(self.settings.tz).date()
        profile = await group_repo.find_profile(session, user.id)
        groups = await group_repo.ids_of_member(session, user.id)
        rows = await calendar_repo.upcoming(session, today)
        teaching = user.role in (Role.CURATOR.value, Role.STAFF.value, Role.ADMIN.value)
        out = [
            e
            for e in rows
            if event_concerns(e, profile, groups) or (teaching and e.kind == EventKind.PERIOD)
        ]
        return out[:limit]
