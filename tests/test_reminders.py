"""Reminder jobs: planned from the calendar, sent once, in each recipient's language, in the
daytime, caught up after a restart within the grace window and dropped after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from aiogram.methods import SendMessage
from sqlalchemy import func, select

from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.reminders import ReminderJob
from bot.services.calendar import EventSpec
from tests.harness import STUDENT, STUDENT_EN, STUDENT_RU, Harness
from tests.test_reminders_support import (
    DAY,
    DEADLINE,
    ORIENTATION,
    FakeClock,
    make_user,
    services,
)


async def _plan(harness: Harness, clock: FakeClock, *specs: EventSpec) -> None:
    _, reminders = services(harness, clock)
    async with harness.ctx.sessionmaker() as session, session.begin():
        await reminders.add_and_plan(session, list(specs))


async def _jobs(harness: Harness) -> dict[str, tuple[datetime, str]]:
    async with harness.ctx.sessionmaker() as session:
        rows = await session.scalars(select(ReminderJob))
        return {j.stage: (j.due_at, j.status) for j in rows}


async def test_orientation_week_is_a_sequence_in_daytime(harness: Harness) -> None:
    clock = FakeClock(DAY)
    await _plan(harness, clock, ORIENTATION)
    jobs = await _jobs(harness)
    assert set(jobs) == {"orientation_before", "orientation_start", "orientation_followup"}
    tz = harness.ctx.settings.tz
    assert jobs["orientation_before"][0].astimezone(tz).date() == date(2026, 9, 4)
    assert jobs["orientation_start"][0].astimezone(tz) == datetime(2026, 9, 7, 9, 0, tzinfo=tz)
    assert jobs["orientation_followup"][0].astimezone(tz).date() == date(2026, 9, 12)


async def test_due_reminder_goes_once_to_its_audience_in_each_language(harness: Harness) -> None:
    for user, lang in ((STUDENT, "kk"), (STUDENT_RU, "ru"), (STUDENT_EN, "en")):
        await make_user(harness, user.id, lang=lang, profile={"study_form": "online"})
    await make_user(harness, 4001, lang="ru", profile={"study_form": "full_time"})
    await make_user(
        harness, 4002, lang="ru", profile={"study_form": "online", "remind_orientation": False}
    )
    clock = FakeClock(DAY)
    await _plan(harness, clock, ORIENTATION)
    broadcasts, reminders = services(harness, clock)
    clock.start = datetime(2026, 9, 7, 4, 5, tzinfo=UTC)  # 09:05 local on the first day
    clock.mono = 1000.0
    assert await reminders.tick() == 1  # the start; "3 days before" is past the grace window
    await broadcasts.drain(harness.bot)
    texts = {uid: harness.texts(uid) for uid in (STUDENT.id, STUDENT_RU.id, STUDENT_EN.id)}
    assert all(len(t) == 1 for t in texts.values()), texts
    assert "Бейімдеу аптасы" in texts[STUDENT.id][0]
    assert "Адаптационная неделя" in texts[STUDENT_RU.id][0]
    assert "Orientation week" in texts[STUDENT_EN.id][0] and "today" in texts[STUDENT_EN.id][0]
    assert "6.18.4" in texts[STUDENT_RU.id][0]
    assert "сегодня" in texts[STUDENT_RU.id][0]
    assert harness.texts(4001) == [] and harness.texts(4002) == []  # not online / switched off
    # A second tick (or a second process) finds nothing to do.
    assert await reminders.tick() == 0
    await broadcasts.drain(harness.bot)
    assert len(harness.texts(STUDENT.id)) == 1


async def test_missed_reminders_caught_up_within_grace_and_dropped_after(harness: Harness) -> None:
    await make_user(harness, STUDENT.id, lang="kk")
    clock = FakeClock(DAY)
    await _plan(harness, clock, DEADLINE)  # deadline_3d 7 Sep 10:00, deadline_1d 9 Sep 10:00
    broadcasts, reminders = services(harness, clock)
    grace = harness.ctx.settings.reminder_grace_hours
    # The bot was down: it comes back on 9 Sep at 14:00 local (05:00 + 4h after 1d was due).
    clock.start = datetime(2026, 9, 9, 9, 0, tzinfo=UTC)
    clock.mono = 1000.0
    assert await reminders.tick() == 1
    jobs = await _jobs(harness)
    assert jobs["deadline_3d"][1] == "dropped"  # two days late, beyond the grace window
    assert jobs["deadline_1d"][1] == "done"  # four hours late, within it
    assert grace == 12
    await broadcasts.drain(harness.bot)
    assert len(harness.texts(STUDENT.id)) == 1 and "Өтініш" in harness.texts(STUDENT.id)[0]


async def test_no_sending_in_quiet_hours(harness: Harness) -> None:
    await make_user(harness, STUDENT.id, lang="kk")
    clock = FakeClock(DAY)
    await _plan(harness, clock, DEADLINE)
    broadcasts, reminders = services(harness, clock)
    async with harness.ctx.sessionmaker() as session, session.begin():
        job = await session.scalar(select(ReminderJob).where(ReminderJob.stage == "deadline_1d"))
        assert job is not None
        job.due_at = datetime(2026, 9, 9, 16, 0, tzinfo=UTC)  # 21:00 local
    clock.start = datetime(2026, 9, 9, 17, 30, tzinfo=UTC)  # 22:30 local: quiet
    clock.mono = 1000.0
    assert await reminders.tick() == 0
    clock.start = datetime(2026, 9, 10, 3, 0, tzinfo=UTC)  # 08:00 local, 11 h late < 12 h
    assert await reminders.tick() == 1
    await broadcasts.drain(harness.bot)
    assert len(harness.texts(STUDENT.id)) == 1


async def test_reminder_deliveries_wait_for_the_morning(harness: Harness) -> None:
    """A reminder fanned out just before 22:00 is not sent at night."""
    await make_user(harness, STUDENT.id, lang="kk")
    clock = FakeClock(datetime(2026, 9, 9, 16, 59, tzinfo=UTC))  # 21:59 local
    await _plan(harness, clock, DEADLINE)
    broadcasts, reminders = services(harness, clock)
    async with harness.ctx.sessionmaker() as session, session.begin():
        job = await session.scalar(select(ReminderJob).where(ReminderJob.stage == "deadline_1d"))
        assert job is not None
        job.due_at = clock.now()
    assert await reminders.tick() == 1
    clock.advance(120)  # 22:01
    await broadcasts.step(harness.bot)
    assert harness.texts(STUDENT.id) == []
    clock.advance(10 * 3600)  # 08:01
    await broadcasts.drain(harness.bot)
    assert len(harness.texts(STUDENT.id)) == 1


async def test_two_processes_fan_out_a_job_once(harness: Harness) -> None:
    await make_user(harness, STUDENT.id, lang="kk")
    clock = FakeClock(DAY)
    await _plan(harness, clock, DEADLINE)
    clock.start = datetime(2026, 9, 7, 5, 30, tzinfo=UTC)  # 10:30 local, 3d reminder due
    clock.mono = 1000.0
    (b1, r1), (b2, r2) = services(harness, clock), services(harness, clock)
    started = await asyncio.gather(r1.tick(), r2.tick())
    assert sorted(started) == [0, 1]
    await asyncio.gather(b1.drain(harness.bot), b2.drain(harness.bot))
    sends = [m for m in harness.session.requests if isinstance(m, SendMessage)]
    assert [m.chat_id for m in sends] == [STUDENT.id]
    async with harness.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 1
        assert await session.scalar(select(func.count()).select_from(BroadcastDelivery)) == 1


async def test_jobs_survive_a_restart(harness: Harness) -> None:
    await make_user(harness, STUDENT_RU.id, lang="ru")
    clock = FakeClock(DAY)
    await _plan(harness, clock, DEADLINE)
    restarted = await harness.restart()
    clock.start = datetime(2026, 9, 9, 5, 1, tzinfo=UTC)
    clock.mono = 1000.0
    broadcasts, reminders = services(restarted, clock)
    assert await reminders.tick() == 1
    await broadcasts.drain(restarted.bot)
    [text] = restarted.texts(STUDENT_RU.id)
    assert "Заявление" in text and "10.09.2026" in text


async def test_content_deadline_reminds_teaching_staff(harness: Harness) -> None:
    await make_user(harness, 4100, lang="en", role="curator")
    await make_user(harness, STUDENT.id, lang="kk")
    clock = FakeClock(DAY)
    period = EventSpec(
        kind="period",
        title_kk="Көктем",
        title_ru="Весна",
        title_en="Spring",
        starts_on=date(2026, 3, 30),
        ends_on=None,
    )
    clock.start = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    await _plan(harness, clock, period)
    jobs = await _jobs(harness)
    # Content deadline 18 March (Nauryz skipped); teachers are reminded 2 working days earlier.
    assert jobs["content_due"][0].astimezone(harness.ctx.settings.tz).date() == date(2026, 3, 16)
    clock.start = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)
    clock.mono = 1000.0
    broadcasts, reminders = services(harness, clock)
    assert await reminders.tick() == 1
    await broadcasts.drain(harness.bot)
    [text] = harness.texts(4100)
    assert "18.03.2026" in text and "6.9.2" in text
    assert harness.texts(STUDENT.id) == []


async def test_language_falls_back_to_telegrams(harness: Harness) -> None:
    """A student who never chose a language gets Telegram's (uk reads Russian here)."""
    await harness.send("/help", user=STUDENT_RU)  # language_code "ru", no choice made
    await make_user(harness, 4200, lang=None)
    async with harness.ctx.sessionmaker() as session, session.begin():
        from bot.db.models import User

        user = await session.get(User, 4200)
        assert user is not None
        user.telegram_language = "uk"
    clock = FakeClock(DAY)
    await _plan(harness, clock, DEADLINE)
    clock.start = datetime(2026, 9, 9, 5, 1, tzinfo=UTC)
    clock.mono = 1000.0
    broadcasts, reminders = services(harness, clock)
    assert await reminders.tick() == 1
    await broadcasts.drain(harness.bot)
    assert "Заявление" in harness.last_text(STUDENT_RU.id)
    assert "Заявление" in harness.last_text(4200)
