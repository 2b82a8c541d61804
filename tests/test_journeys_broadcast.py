"""Issue 16, item 6 and part of 8: the broadcast screen, /profile, /rules, the calendar.

A curator's group is counted and chosen from the start, a broadcast nobody would receive
cannot be sent, every date is DD.MM.YYYY; /profile offers years 1–5 and resolves the programme
to its code; /rules 5.4.17 suggests 5.4.16 and /rules appendix opens Appendix 1; the calendar
says who an event is for in words.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from bot.db.models.broadcasts import Broadcast
from bot.db.models.groups import StudentProfile
from bot.services.calendar import EventSpec
from tests.harness import STAFF, STUDENT_EN, STUDENT_RU, Harness, TgUser
from tests.test_broadcast_flow import at_local
from tests.test_reminders_support import set_role

CURATOR = TgUser(id=3201, first_name="Aliya", language_code="ru")
CO_CURATOR = TgUser(id=3202, first_name="Bolat", language_code="ru")


async def new_group(h: Harness, name: str) -> str:
    await h.send(f"/newgroup {name}", user=CURATOR)
    match = re.search(r"/join ([A-Z0-9]{8})", h.last_text(CURATOR.id))
    assert match is not None
    return match.group(1)


async def test_curator_screen_counts_their_group_and_refuses_an_empty_send(
    harness: Harness,
) -> None:
    """A curator's group has one member, a colleague who joined with the invite link: the
    screen shows that group chosen and 1 recipient, not "all students". A second, empty
    group chosen alone: the preview says nobody would receive it and offers no «Send»."""
    h = harness
    at_local(h, 15, 0)
    await h.send("/start", user=CURATOR)
    await set_role(h, CURATOR.id, "curator")
    await h.send("/start", user=CO_CURATOR)
    await set_role(h, CO_CURATOR.id, "curator")
    await h.send("/start", user=STUDENT_EN)  # a student of nobody's group
    code = await new_group(h, "ИС-21")
    await new_group(h, "ИС-22")
    await h.send(f"/start join_{code}", user=CO_CURATOR)

    await h.send("/broadcast", user=CURATOR)
    await h.send("Завтра пары не будет", user=CURATOR)
    screen = h.last_text(CURATOR.id)
    assert "все обучающиеся" not in screen
    assert "ИС-21" in screen and "получателей: 1" in screen
    assert "✅ ИС-21" in h.buttons(CURATOR.id)

    await h.click_button("ИС-21", user=CURATOR)  # only the empty ИС-22 is left
    assert "ИС-22 — получателей: 0" in h.last_text(CURATOR.id)
    await h.click_button("➡️", user=CURATOR)
    assert "Никто не получит" in h.last_text(CURATOR.id)
    assert not any("Отправить" in b for b in h.buttons(CURATOR.id))
    await h.click_button("Изменить", user=CURATOR)
    await h.click_button("ИС-22", user=CURATOR)  # none chosen: not "all students"
    assert "хотя бы одну" in h.last_text(CURATOR.id)
    await h.click_button("ИС-21", user=CURATOR)
    await h.click_button("➡️", user=CURATOR)
    await h.click_button("🚀", user=CURATOR)
    async with h.ctx.sessionmaker() as session:
        [b] = (await session.scalars(select(Broadcast))).all()
    assert b.total == 1


async def test_schedule_prompt_and_confirmation_use_day_month_year(harness: Harness) -> None:
    h = harness
    at_local(h, 15, 0)
    await h.send("/start", user=STUDENT_EN)
    await h.send("/start", user=STAFF)
    await set_role(h, STAFF.id, "staff")
    await h.send("/broadcast", user=STAFF)
    await h.send("Orientation week", user=STAFF)
    await h.click_button("➡️", user=STAFF)
    await h.click_button("🕒", user=STAFF)
    prompt = h.last_text(STAFF.id)
    assert "ДД.ММ.ГГГГ ЧЧ:ММ" in prompt and "02.09.2026 10:00" in prompt
    assert "2026-09" not in prompt
    await h.send("05.09.2026 10:30", user=STAFF)
    assert "05.09.2026 10:30" in h.last_text(STAFF.id)


async def test_profile_offers_years_one_to_five_and_resolves_the_programme(
    harness: Harness,
) -> None:
    h, user = harness, STUDENT_RU
    await h.send("/profile", user=user)
    years = [b for b in h.buttons(user.id) if "курс" in b]
    assert years == ["1 курс", "2 курс", "3 курс", "4 курс", "5 курс"]
    await h.click_button("5 курс", user=user)
    await h.click_button("Образовательная программа", user=user)
    await h.send("информатика и вычислительная", user=user)  # not one direction: asked again
    await h.send("6B06102", user=user)
    async with h.ctx.sessionmaker() as session:
        profile = await session.get(StudentProfile, user.id)
    assert profile is not None and profile.course_year == 5 and profile.programme == "6B061"
    assert "6B061" in h.last_text(user.id)


async def test_rules_suggests_the_neighbouring_clause_and_opens_the_appendix(
    harness: Harness,
) -> None:
    h, user = harness, STUDENT_EN
    await h.send("/rules 5.4.17", user=user)
    text = h.last_text(user.id)
    assert "The nearest ones: clause 5.4.16" in text
    assert h.buttons(user.id)[0].startswith("clause 5.4.16")
    for query in ("/rules appendix", "/rules приложение", "/rules қосымша"):
        await h.send(query, user=user)
        assert "Appendix 1" in h.last_text(user.id), query
        assert "no clause" not in h.last_text(user.id), query


async def test_calendar_says_who_an_event_is_for_in_words(harness: Harness) -> None:
    h = harness
    reminders = h.ctx.services.reminders
    year = reminders.now().year + 1
    specs = [
        EventSpec(
            "orientation", "Бейімделу", "Адаптация", "Orientation", date(year, 3, 2), None, "all"
        ),
        EventSpec(
            "exam_deadline", "Емтихан", "Экзамены", "Exams", date(year, 5, 20), None, "course", "2"
        ),
    ]
    async with h.ctx.sessionmaker() as session, session.begin():
        await reminders.add_and_plan(session, specs)
    await h.send("/start", user=STAFF)
    await set_role(h, STAFF.id, "staff")
    await h.send("/calendar", user=STAFF)
    text = h.last_text(STAFF.id)
    assert "[all]" not in text and "[course" not in text
    assert "для всех" in text and "для 2 курса" in text
