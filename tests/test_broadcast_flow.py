"""The stories in the chat: a curator makes a group, students join, the curator broadcasts;
students set their profile and reminder switches."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from aiogram.methods import SendMessage
from sqlalchemy import func, select

from bot.db.models.broadcasts import Broadcast, BroadcastDelivery
from bot.db.models.groups import CuratorGroup, StudentProfile
from bot.services.broadcast import BroadcastService
from handlers.broadcast import AudienceCallback
from tests.harness import STAFF, STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser
from tests.test_reminders_support import FakeClock, services, set_role

CURATOR = TgUser(id=3101, first_name="Gulnar", language_code="ru")
OTHER_CURATOR = TgUser(id=3102, first_name="Marat", language_code="kk")


async def _group(harness: Harness, curator: TgUser, name: str) -> str:
    await harness.send(f"/newgroup {name}", user=curator)
    match = re.search(r"/join ([A-Z0-9]{8})", harness.last_text(curator.id))
    assert match, harness.last_text(curator.id)
    return match.group(1)


def at_local(
    harness: Harness, hour: int, minute: int = 0, day: date = date(2026, 9, 1)
) -> datetime:
    """Pin the dispatcher's broadcast clock (``broadcasts.now``) to a local wall time in
    ``settings.tz``; returns that moment in UTC. "Send now" depends on it (quiet hours)."""
    moment = datetime.combine(day, time(hour, minute), tzinfo=harness.ctx.settings.tz)
    moment = moment.astimezone(UTC)
    harness.ctx.services.broadcasts.now = lambda: moment
    return moment


async def _setup(harness: Harness) -> tuple[str, str]:
    for user in (CURATOR, OTHER_CURATOR, STUDENT, STUDENT_RU, STUDENT_EN):
        await harness.send("/help", user=user)
    await set_role(harness, CURATOR.id, "curator")
    await set_role(harness, OTHER_CURATOR.id, "curator")
    mine = await _group(harness, CURATOR, "IT-21")
    theirs = await _group(harness, OTHER_CURATOR, "LAW-22")
    await harness.send(f"/join {mine.lower()}", user=STUDENT)
    await harness.send(f"/join {mine}", user=STUDENT_RU)
    await harness.send(f"/join {theirs}", user=STUDENT_EN)
    assert "LAW-22" in harness.last_text(STUDENT_EN.id)
    return mine, theirs


async def test_curator_broadcasts_to_their_group(harness: Harness) -> None:
    at_local(harness, 15, 0)  # daytime: "Send now" sends at once
    await _setup(harness)
    assert "IT-21" in harness.last_text(STUDENT_RU.id)
    await harness.send("/broadcast", user=CURATOR)
    await harness.send("Собрание группы в 15:00 <завтра>", user=CURATOR)
    assert "2" not in harness.buttons(CURATOR.id)  # curators see groups, not segments
    # Their own groups are chosen from the start (not "all students", which they can't use).
    assert "✅ IT-21" in harness.buttons(CURATOR.id)
    assert "IT-21" in harness.last_text(CURATOR.id) and "2" in harness.last_text(CURATOR.id)
    await harness.click_button("➡️", user=CURATOR)
    preview = harness.texts(CURATOR.id)[-2]
    assert preview == "Собрание группы в 15:00 &lt;завтра&gt;"
    await harness.click_button("🚀", user=CURATOR)
    assert "№" in harness.last_text(CURATOR.id)  # the curator writes in Russian

    clock = FakeClock()
    broadcasts, _ = services(harness, clock)
    await broadcasts.drain(harness.bot)
    assert harness.texts(STUDENT.id)[-1] == "Собрание группы в 15:00 &lt;завтра&gt;"
    assert harness.texts(STUDENT_RU.id)[-1] == "Собрание группы в 15:00 &lt;завтра&gt;"
    assert "Собрание" not in harness.texts(STUDENT_EN.id)[-1]
    report = harness.last_text(CURATOR.id)
    assert "2" in report and "№" in report


async def test_curator_cannot_reach_another_curators_group(harness: Harness) -> None:
    await _setup(harness)
    async with harness.ctx.sessionmaker() as session:
        other = await session.scalar(select(CuratorGroup.id).where(CuratorGroup.name == "LAW-22"))
    await harness.send("/broadcast", user=CURATOR)
    await harness.send("Hello", user=CURATOR)
    # A forged button press naming the other curator's group is refused.
    await harness.click(AudienceCallback(key="group", value=str(other)).pack(), user=CURATOR)
    assert harness.alerts()
    await harness.click(AudienceCallback(key="faculty").pack(), user=CURATOR)
    assert len(harness.alerts()) == 2
    await harness.click_button("➡️", user=CURATOR)  # nothing chosen: refused
    assert not any(
        isinstance(m, SendMessage) and m.chat_id == STUDENT_EN.id and m.text == "Hello"
        for m in harness.session.requests
    )


async def test_students_cannot_broadcast(harness: Harness) -> None:
    await harness.send("/broadcast", user=STUDENT_EN)
    assert not any("Send the message for the students" in t for t in harness.texts(STUDENT_EN.id))


async def test_staff_picks_a_segment(harness: Harness) -> None:
    at_local(harness, 15, 0)
    await _setup(harness)
    await harness.send("/help", user=STAFF)
    await set_role(harness, STAFF.id, "staff")
    async with harness.ctx.sessionmaker() as session, session.begin():
        session.add(StudentProfile(user_id=STUDENT_EN.id, course_year=2, study_form="online"))
        session.add(StudentProfile(user_id=STUDENT_RU.id, course_year=3, study_form="online"))
    await harness.send("/broadcast", user=STAFF)
    await harness.send("Exams", user=STAFF)
    await harness.click(AudienceCallback(key="course_year", value="2").pack(), user=STAFF)
    await harness.click(AudienceCallback(key="done").pack(), user=STAFF)
    await harness.click_button("🚀", user=STAFF)
    broadcasts: BroadcastService
    broadcasts, _ = services(harness, FakeClock())
    await broadcasts.drain(harness.bot)
    assert harness.texts(STUDENT_EN.id)[-1] == "Exams"
    assert "Exams" not in harness.texts(STUDENT_RU.id)


async def test_profile_and_reminder_switches(harness: Harness) -> None:
    await harness.send("/profile", user=STUDENT_EN)
    await harness.click_button("Year 2", user=STUDENT_EN)
    await harness.click_button("online", user=STUDENT_EN)
    await harness.click_button("Faculty", user=STUDENT_EN)
    await harness.send("Engineering", user=STUDENT_EN)
    assert "Engineering" in harness.last_text(STUDENT_EN.id)
    await harness.send("/reminders", user=STUDENT_EN)
    assert "Deadlines" in " ".join(harness.buttons(STUDENT_EN.id))
    await harness.click_button("Deadlines", user=STUDENT_EN)
    async with harness.ctx.sessionmaker() as session:
        profile = await session.get(StudentProfile, STUDENT_EN.id)
        assert profile is not None
        assert (profile.course_year, profile.study_form, profile.faculty) == (
            2,
            "online",
            "Engineering",
        )
        assert profile.remind_deadlines is False and profile.remind_orientation is True


async def test_reminders_list_and_staff_calendar(harness: Harness) -> None:
    from datetime import date

    from bot.services.calendar import EventSpec

    reminders = harness.ctx.services.reminders
    today = reminders.now().astimezone(harness.ctx.settings.tz).date()
    year = today.year + 1
    specs = [
        EventSpec("period", "Көктем", "Весна", "Spring term", date(year, 3, 30), None),
        EventSpec(
            "orientation",
            "Бейімдеу",
            "Адаптация",
            "Orientation",
            date(year, 3, 30),
            date(year, 4, 3),
            "online",
        ),
        EventSpec(
            "exam_deadline", "Емтихан", "Экзамены", "Exams", date(year, 5, 20), None, "distance"
        ),
    ]
    async with harness.ctx.sessionmaker() as session, session.begin():
        await reminders.add_and_plan(session, specs)
    await harness.send("/profile", user=STUDENT_RU)
    await harness.click_button("форма онлайн", user=STUDENT_RU)
    await harness.send("/reminders", user=STUDENT_RU)
    text = harness.last_text(STUDENT_RU.id)
    assert "Адаптация" in text and "Весна" in text and "Экзамены" not in text
    assert "6.9.2" not in text  # the content deadline concerns teachers, not students

    await harness.send("/help", user=STAFF)
    await set_role(harness, STAFF.id, "staff")
    await harness.send("/calendar", user=STAFF)
    text = harness.last_text(STAFF.id)
    assert "Экзамены" in text and "6.9.2" in text
    assert f"18.03.{year}" in text or "Nauryz" not in text  # the derived date is shown
    await harness.send("/calendar", user=STUDENT_RU)  # students have no calendar editor
    assert "CSV" not in harness.last_text(STUDENT_RU.id)


async def test_schedule_at_night_moves_to_the_morning(harness: Harness) -> None:
    await harness.send("/help", user=STUDENT)  # someone to receive it
    await harness.send("/help", user=STAFF)
    await set_role(harness, STAFF.id, "staff")
    await harness.send("/broadcast", user=STAFF)
    await harness.send("Night owl", user=STAFF)
    await harness.click(AudienceCallback(key="done").pack(), user=STAFF)
    await harness.click_button("🕒", user=STAFF)
    await harness.send("2030-01-10 23:30", user=STAFF)
    texts = harness.texts(STAFF.id)
    assert "11.01.2030 08:00" in texts[-2]  # quiet hours: moved to the morning
    assert "11.01.2030 08:00" in texts[-1] and "№" in texts[-1]


# "Send now" within quiet hours (22:00–08:00 in settings.tz) asks first ----------------------

QUIET_PROMPT_RU = (
    "Сейчас тихие часы (22:00–08:00): студенты, скорее всего, спят. "
    "Отправить в 08:00, когда тихие часы закончатся, или всё равно сейчас?"
)
NOTICE = "Собрание группы завтра в 10:00"


async def _to_send_choice(harness: Harness) -> None:
    """The curator has written the notice, picked IT-21 and sees the preview."""
    await _setup(harness)
    await harness.send("/broadcast", user=CURATOR)
    await harness.send(NOTICE, user=CURATOR)  # their group IT-21 is chosen from the start
    await harness.click_button("➡️", user=CURATOR)
    assert "🚀 Отправить сейчас" in harness.buttons(CURATOR.id)


async def _stored(harness: Harness) -> tuple[list[Broadcast], int]:
    """The curator broadcasts stored, and how many delivery rows exist."""
    async with harness.ctx.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Broadcast).where(Broadcast.kind == "message").order_by(Broadcast.id)
            )
        )
        deliveries = await session.scalar(select(func.count()).select_from(BroadcastDelivery))
    return rows, int(deliveries or 0)


async def test_send_now_at_night_offers_the_morning_or_sending_anyway(harness: Harness) -> None:
    at_local(harness, 23, 30)
    await _to_send_choice(harness)
    await harness.click_button("🚀", user=CURATOR)
    assert harness.last_text(CURATOR.id) == QUIET_PROMPT_RU
    assert harness.buttons(CURATOR.id) == [
        "🌅 Отправить в 08:00",
        "🚀 Всё равно отправить",
        "✖️ Отменить",
    ]
    assert await _stored(harness) == ([], 0)  # nothing created, nothing to deliver
    assert NOTICE not in harness.texts(STUDENT.id)


async def test_send_at_the_end_of_quiet_hours_schedules_for_eight(harness: Harness) -> None:
    at_local(harness, 23, 30)
    await _to_send_choice(harness)
    await harness.click_button("🚀", user=CURATOR)
    await harness.click_button("🌅", user=CURATOR)
    (b,), deliveries = await _stored(harness)
    tz = harness.ctx.settings.tz
    assert b.status == "scheduled" and deliveries == 0
    assert b.scheduled_at == datetime(2026, 9, 2, 8, 0, tzinfo=tz)
    assert b.text == NOTICE
    assert harness.last_text(CURATOR.id) == f"Рассылка №{b.id} запланирована на 02.09.2026 08:00."

    # The delivery worker leaves it alone until 08:00, then sends it.
    early, _ = services(harness, FakeClock(datetime(2026, 9, 2, 7, 59, tzinfo=tz)))
    await early.drain(harness.bot)
    assert NOTICE not in harness.texts(STUDENT.id)
    morning, _ = services(harness, FakeClock(datetime(2026, 9, 2, 8, 0, tzinfo=tz)))
    await morning.drain(harness.bot)
    assert harness.texts(STUDENT.id)[-1] == NOTICE
    assert harness.texts(STUDENT_RU.id)[-1] == NOTICE


async def test_send_anyway_sends_at_night(harness: Harness) -> None:
    night = at_local(harness, 23, 30)
    await _to_send_choice(harness)
    await harness.click_button("🚀", user=CURATOR)
    await harness.click_button("Всё равно", user=CURATOR)
    (b,), deliveries = await _stored(harness)
    assert b.scheduled_at is None and b.status == "sending" and deliveries == 2
    assert harness.last_text(CURATOR.id) == f"Рассылка №{b.id}: отправляется получателям (2)…"
    broadcasts, _ = services(harness, FakeClock(night))
    await broadcasts.drain(harness.bot)
    assert harness.texts(STUDENT.id)[-1] == NOTICE
    assert harness.texts(STUDENT_RU.id)[-1] == NOTICE


async def test_the_morning_button_pressed_after_quiet_hours_sends_at_once(
    harness: Harness,
) -> None:
    at_local(harness, 23, 30)
    await _to_send_choice(harness)
    await harness.click_button("🚀", user=CURATOR)
    at_local(harness, 9, 15, day=date(2026, 9, 2))  # the curator answers next morning
    await harness.click_button("🌅", user=CURATOR)
    (b,), deliveries = await _stored(harness)
    assert b.scheduled_at is None and deliveries == 2
    assert harness.last_text(CURATOR.id) == f"Рассылка №{b.id}: отправляется получателям (2)…"


async def test_send_now_in_the_afternoon_sends_at_once(harness: Harness) -> None:
    at_local(harness, 15, 0)
    await _to_send_choice(harness)
    await harness.click_button("🚀", user=CURATOR)
    (b,), deliveries = await _stored(harness)
    assert b.scheduled_at is None and b.status == "sending" and deliveries == 2
    assert harness.last_text(CURATOR.id) == f"Рассылка №{b.id}: отправляется получателям (2)…"
    assert QUIET_PROMPT_RU not in harness.texts(CURATOR.id)
