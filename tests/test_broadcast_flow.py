"""The stories in the chat: a curator makes a group, students join, the curator broadcasts;
students set their profile and reminder switches."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from aiogram.methods import SendMessage
from sqlalchemy import select

from bot.db.models.reminders import CuratorGroup, StudentProfile
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
    harness.ctx.services["broadcasts"].now = lambda: moment
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
    await harness.click_button("IT-21", user=CURATOR)
    assert "2" in harness.last_text(CURATOR.id)  # two recipients
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

    reminders = harness.ctx.services["reminders"]
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
    await harness.send("/help", user=STAFF)
    await set_role(harness, STAFF.id, "staff")
    await harness.send("/broadcast", user=STAFF)
    await harness.send("Night owl", user=STAFF)
    await harness.click(AudienceCallback(key="done").pack(), user=STAFF)
    await harness.click_button("🕒", user=STAFF)
    await harness.send("2030-01-10 23:30", user=STAFF)
    texts = harness.texts(STAFF.id)
    assert "2030-01-11 08:00" in texts[-2]  # quiet hours: moved to the morning
    assert "2030-01-11 08:00" in texts[-1] and "№" in texts[-1]
