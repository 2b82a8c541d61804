"""Staff edit the academic calendar in /calendar: delete after a confirmation, page through the
events, and move an event to new dates (its pending reminders move with it)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime, time

from sqlalchemy import select

from bot.db.models.reminders import CalendarEvent, ReminderJob
from bot.services.calendar import EventSpec
from bot.services.reminders import ReminderService
from handlers.reminders import CalendarCallback
from tests.harness import STAFF, STUDENT_EN, Harness, TgUser
from tests.test_reminders_support import DAY, DEADLINE, ORIENTATION, set_role

STAFF_KK = TgUser(id=2002, first_name="Aliya", language_code="kk")


async def _calendar(harness: Harness, *specs: EventSpec, user: TgUser = STAFF) -> ReminderService:
    """The clock pinned to DAY, ``user`` is staff, the events are planned, /calendar is open."""
    reminders: ReminderService = harness.ctx.services.reminders
    reminders.now = lambda: DAY
    await harness.send("/help", user=user)
    await set_role(harness, user.id, "staff")
    async with harness.ctx.sessionmaker() as session, session.begin():
        await reminders.add_and_plan(session, list(specs))
    await harness.send("/calendar", user=user)
    return reminders


async def _events(harness: Harness) -> dict[str, tuple[date, date | None]]:
    async with harness.ctx.sessionmaker() as session:
        rows = await session.scalars(select(CalendarEvent))
        return {e.title_en: (e.starts_on, e.ends_on) for e in rows}


async def _jobs(harness: Harness) -> dict[tuple[str, str], tuple[datetime, str]]:
    async with harness.ctx.sessionmaker() as session:
        rows = list(await session.scalars(select(ReminderJob)))
        titles = {e.id: e.title_en for e in await session.scalars(select(CalendarEvent))}
        return {(titles.get(j.event_id, "?"), j.stage): (j.due_at, j.status) for j in rows}


async def _event_id(harness: Harness, title_en: str) -> int:
    async with harness.ctx.sessionmaker() as session:
        event_id = await session.scalar(
            select(CalendarEvent.id).where(CalendarEvent.title_en == title_en)
        )
        assert event_id is not None
        return event_id


def _local(harness: Harness, day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=harness.ctx.settings.tz)


# Deleting asks first ----------------------------------------------------------------------------


async def test_delete_asks_then_removes_the_event_and_its_pending_reminders(
    harness: Harness,
) -> None:
    await _calendar(harness, DEADLINE, ORIENTATION)
    assert "Заявление" in harness.last_text(STAFF.id)
    await harness.click_button("🗑 Заявление", user=STAFF)
    assert harness.last_text(STAFF.id) == (
        "Удалить «Заявление» (10.09.2026) и запланированные напоминания (2)?"
    )
    assert harness.buttons(STAFF.id) == ["🗑 Да, удалить", "Оставить"]
    assert set(await _events(harness)) == {"Application", "Orientation week"}  # not yet

    await harness.click_button("Да, удалить", user=STAFF)
    assert harness.alerts()[-1] == "Удалено: Заявление"  # the staff member's language
    assert set(await _events(harness)) == {"Orientation week"}
    assert {title for title, _ in await _jobs(harness)} == {"Orientation week"}
    # The list is back, without the deleted event.
    text = harness.last_text(STAFF.id)
    assert "Адаптационная неделя" in text and "Заявление" not in text


async def test_keep_deletes_nothing(harness: Harness) -> None:
    await _calendar(harness, DEADLINE)
    jobs = await _jobs(harness)
    await harness.click_button("🗑 Заявление", user=STAFF)
    await harness.click_button("Оставить", user=STAFF)
    assert harness.alerts()[-1] == "Ничего не удалено."
    assert set(await _events(harness)) == {"Application"}
    assert await _jobs(harness) == jobs and len(jobs) == 2
    assert "Заявление" in harness.last_text(STAFF.id)  # the list again
    # "Yes" of the question just answered with "Keep" no longer deletes.
    event_id = await _event_id(harness, "Application")
    await harness.click(CalendarCallback(action="yes", event_id=event_id).pack(), user=STAFF)
    assert set(await _events(harness)) == {"Application"}


async def test_the_deleted_alert_is_in_the_staff_members_language(harness: Harness) -> None:
    await _calendar(harness, DEADLINE, user=STAFF_KK)
    await harness.click_button("🗑 Өтініш", user=STAFF_KK)
    assert harness.last_text(STAFF_KK.id).startswith("«Өтініш» (10.09.2026)")
    await harness.click_button("Иә, жою", user=STAFF_KK)
    assert harness.alerts()[-1] == "Жойылды: Өтініш"
    assert await _events(harness) == {}


async def test_forged_or_stale_delete_buttons_delete_nothing(harness: Harness) -> None:
    await _calendar(harness, DEADLINE, ORIENTATION)
    application = await _event_id(harness, "Application")
    orientation = await _event_id(harness, "Orientation week")
    jobs = await _jobs(harness)

    # "Yes" that answers no question.
    await harness.click(CalendarCallback(action="yes", event_id=application).pack(), user=STAFF)
    assert harness.alerts()[-1] == "Эта кнопка больше не активна."
    # "Yes" for another event than the one asked about.
    await harness.click_button("🗑 Адаптационная неделя", user=STAFF)
    await harness.click(CalendarCallback(action="yes", event_id=application).pack(), user=STAFF)
    assert harness.alerts()[-1] == "Эта кнопка больше не активна."
    # A student with a well-formed button, and the old one-tap format.
    await harness.click(CalendarCallback(action="yes", event_id=orientation).pack(), STUDENT_EN)
    await harness.click(f"cal:delete:{application}", user=STAFF)
    assert set(await _events(harness)) == {"Application", "Orientation week"}
    assert await _jobs(harness) == jobs

    # Deleted for real, then its buttons pressed again: nothing breaks, nothing else goes.
    await harness.click(CalendarCallback(action="yes", event_id=orientation).pack(), user=STAFF)
    assert set(await _events(harness)) == {"Application"}
    for action in ("yes", "del", "edit"):
        await harness.click(CalendarCallback(action=action, event_id=orientation).pack(), STAFF)
        assert harness.alerts()[-1] == "Этого события больше нет в календаре."
    await harness.click(CalendarCallback(action="nonsense", event_id=application).pack(), STAFF)
    assert set(await _events(harness)) == {"Application"}
    assert len(await _jobs(harness)) == 2


# Paging -----------------------------------------------------------------------------------------


async def test_paging_reaches_the_events_after_the_fifteenth(harness: Harness) -> None:
    specs = [
        EventSpec(
            "exam_deadline", f"Е{n:02}", f"Экзамен {n:02}", f"Exam {n:02}", date(2026, 10, n), None
        )
        for n in range(1, 18)
    ]
    await _calendar(harness, *specs)
    first = harness.last_text(STAFF.id)
    assert first.startswith("Академический календарь, страница 1 из 2 (событий: 17):")
    assert "Экзамен 15" in first and "Экзамен 16" not in first
    assert "Позже ▶️" in harness.buttons(STAFF.id)
    assert "◀️ Раньше" not in harness.buttons(STAFF.id)

    await harness.click_button("Позже ▶️", user=STAFF)
    second = harness.last_text(STAFF.id)
    assert second.startswith("Академический календарь, страница 2 из 2")
    assert "Экзамен 16" in second and "Экзамен 17" in second and "Экзамен 01" not in second
    assert "CSV" in second  # the upload hint stays
    assert harness.buttons(STAFF.id)[-1] == "◀️ Раньше"

    # An event on the second page can be deleted; the list stays on that page.
    await harness.click_button("🗑 Экзамен 17", user=STAFF)
    await harness.click_button("Да, удалить", user=STAFF)
    assert "Exam 17" not in await _events(harness)
    after = harness.last_text(STAFF.id)
    assert "Экзамен 16" in after and "Экзамен 17" not in after

    await harness.click_button("◀️ Раньше", user=STAFF)
    assert "Экзамен 01" in harness.last_text(STAFF.id)


# Moving an event to new dates ------------------------------------------------------------------


async def test_new_dates_move_the_event_and_its_pending_reminders(harness: Harness) -> None:
    await _calendar(harness, ORIENTATION, DEADLINE)
    # "3 days before" was already sent: it stays as it was.
    async with harness.ctx.sessionmaker() as session, session.begin():
        orientation = await _event_id(harness, "Orientation week")
        sent = await session.scalar(
            select(ReminderJob).where(
                ReminderJob.event_id == orientation, ReminderJob.stage == "orientation_before"
            )
        )
        assert sent is not None
        sent.status, sent.done_at = "done", DAY
        sent_due = sent.due_at
    deadline_jobs = {k: v for k, v in (await _jobs(harness)).items() if k[0] == "Application"}

    await harness.click_button("✏️ Адаптационная неделя", user=STAFF)
    assert "сейчас 07.09.2026–11.09.2026" in harness.last_text(STAFF.id)

    await harness.send("next monday", user=STAFF)
    assert harness.last_text(STAFF.id).startswith("Напишите даты в виде ДД.ММ.ГГГГ")
    await harness.send("31.09.2026", user=STAFF)  # no such day
    assert harness.last_text(STAFF.id).startswith("Напишите даты в виде ДД.ММ.ГГГГ")
    await harness.send("18.09.2026–14.09.2026", user=STAFF)
    assert harness.last_text(STAFF.id) == (
        "Последний день (14.09.2026) раньше первого (18.09.2026). Отправьте даты ещё раз."
    )
    assert (await _events(harness))["Orientation week"] == (date(2026, 9, 7), date(2026, 9, 11))

    await harness.send("14.09.2026 - 18.09.2026", user=STAFF)
    assert harness.last_text(STAFF.id) == (
        "«Адаптационная неделя» теперь проходит 14.09.2026–18.09.2026. "
        "Запланировано напоминаний: 2."
    )
    assert (await _events(harness))["Orientation week"] == (date(2026, 9, 14), date(2026, 9, 18))
    jobs = await _jobs(harness)
    assert jobs[("Orientation week", "orientation_before")] == (sent_due, "done")
    assert jobs[("Orientation week", "orientation_start")] == (
        _local(harness, date(2026, 9, 14), 9),
        "pending",
    )
    assert jobs[("Orientation week", "orientation_followup")] == (
        _local(harness, date(2026, 9, 19), 12),
        "pending",
    )
    assert {k: v for k, v in jobs.items() if k[0] == "Application"} == deadline_jobs

    # Done: the next text is not taken for dates.
    await harness.send("21.09.2026", user=STAFF)
    assert (await _events(harness))["Orientation week"] == (date(2026, 9, 14), date(2026, 9, 18))


async def test_one_day_and_cancel(harness: Harness) -> None:
    await _calendar(harness, DEADLINE)
    await harness.click_button("✏️ Заявление", user=STAFF)
    await harness.send("/cancel", user=STAFF)
    await harness.send("20.09.2026", user=STAFF)
    assert (await _events(harness))["Application"] == (date(2026, 9, 10), None)

    await harness.send("/calendar", user=STAFF)
    await harness.click_button("✏️ Заявление", user=STAFF)
    await harness.send("20.09.2026", user=STAFF)
    assert "Запланировано напоминаний: 2." in harness.last_text(STAFF.id)
    assert (await _events(harness))["Application"] == (date(2026, 9, 20), None)
    assert await _jobs(harness) == {
        ("Application", "deadline_3d"): (_local(harness, date(2026, 9, 17), 10), "pending"),
        ("Application", "deadline_1d"): (_local(harness, date(2026, 9, 19), 10), "pending"),
    }


async def test_a_file_sent_after_the_list_is_still_imported(harness: Harness) -> None:
    """The list on screen (after /calendar, "Keep" or a deletion) takes a calendar file."""
    csv_text = (
        "kind,title_kk,title_ru,title_en,starts_on,ends_on,audience\n"
        "exam_deadline,Емтихан,Экзамены,Exams,2026-12-20,,all\n"
    )

    async def stream_content(*args: object, **kwargs: object) -> AsyncGenerator[bytes, None]:
        yield csv_text.encode()

    harness.session.stream_content = stream_content  # type: ignore[method-assign]
    await _calendar(harness, DEADLINE)
    await harness.click_button("🗑 Заявление", user=STAFF)
    await harness.click_button("Оставить", user=STAFF)
    document = {"file_id": "cal", "file_unique_id": "cal", "file_name": "calendar.csv"}
    await harness.send_content(STAFF, document=document)
    assert harness.last_text(STAFF.id).startswith("Импортировано событий: 1")
    assert set(await _events(harness)) == {"Application", "Exams"}
