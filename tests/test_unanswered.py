"""The unanswered-question loop (issue 12): a question the bot cannot answer reaches staff in
/unanswered, staff answer it once, and from then on the FAQ answers it, in every language the
answer has (the others with a note), and the students who asked are told once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.methods import SendMessage
from sqlalchemy import select

from bot.db.models import Question
from bot.db.models.faq import ClauseExampleRow, FaqNotification, UnansweredGroup, UnansweredItem
from tests.faq_support import (
    daytime,
    harness_pair,
    make_staff,
    staff_click,
    staff_send,
    staff_texts,
)
from tests.harness import STAFF, STAFF_CHAT_ID, STUDENT, STUDENT_EN, STUDENT_RU, Harness, TgUser
from tests.test_reminders_support import make_user

# A student of the Russian interface who asks the same thing in other words.
STUDENT_RU2 = TgUser(id=1012, first_name="Olga", last_name="Ivanova", language_code="ru")
PRINTING = "где распечатать курсовую в университете?"
PRINTING_AGAIN = "где можно распечатать курсовую работу"
ANSWER_RU = "Курсовую можно распечатать в читальном зале библиотеки."
ANSWER_EN = "You can print your coursework in the library's reading room."


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async for h in harness_pair(database_url):
        yield h


async def rows(h: Harness, model: type) -> list:  # type: ignore[type-arg]
    async with h.ctx.sessionmaker() as session:
        return list(await session.scalars(select(model)))


def sent_to(h: Harness, chat_id: int) -> list[SendMessage]:
    return [m for m in h.session.requests if isinstance(m, SendMessage) and m.chat_id == chat_id]


async def _ask_the_unanswerable(h: Harness) -> None:
    await h.send(PRINTING, user=STUDENT_RU)
    assert "Положение № 066 этого не касается" in h.last_text(STUDENT_RU.id)
    await h.send(PRINTING_AGAIN, user=STUDENT_RU2)
    await h.send(PRINTING_AGAIN, user=STUDENT_RU)  # the same student again: told once later
    await h.send("what is the wifi password in the main building", user=STUDENT_EN)


async def _publish(h: Harness) -> None:
    await staff_send(h, "/unanswered", STAFF)
    await staff_click(h, "1", STAFF)
    await staff_click(h, "✍️", STAFF)
    await staff_click(h, "Русский", STAFF)
    await staff_send(h, ANSWER_RU, STAFF)
    await staff_click(h, "English", STAFF)
    await staff_send(h, ANSWER_EN, STAFF)
    await staff_click(h, "➡️", STAFF)
    await staff_click(h, "Научная библиотека", STAFF)
    preview = staff_texts(h)[-1]
    assert ANSWER_RU in preview and "FAQ · Научная библиотека" in preview
    assert "Нужен перевод: Қазақша" in preview
    await staff_click(h, "✅", STAFF)


async def test_an_unanswered_question_is_answered_by_staff_and_then_by_the_faq(
    harness: Harness,
) -> None:
    h = harness
    daytime(h)
    await make_staff(h, STAFF)
    await _ask_the_unanswerable(h)
    items = await rows(h, UnansweredItem)
    assert {(i.user_id, i.reason) for i in items} == {
        (STUDENT_RU.id, "out_of_scope"),
        (STUDENT_RU2.id, "out_of_scope"),
        (STUDENT_EN.id, "office"),  # routed to the ICT Centre: still no answer of our own
    }

    # staff see the queue grouped: the printing question 3 times, biggest first
    await staff_send(h, "/unanswered", STAFF)
    listing = staff_texts(h)[-1]
    assert "групп — 2, вопросов — 4" in listing
    first, second = listing.split("\n1. ")[1].split("\n2. ")
    assert "вопросов: 3 · ru" in first and PRINTING_AGAIN in first
    assert "вопросов: 1 · en" in second and "wifi" in second

    # the group's card, then the answer in Russian and English, the office, publish
    await staff_click(h, "1", STAFF)
    card = staff_texts(h)[-1]
    assert "Группа №" in card and "вопросов: 3" in card and "не охвачено 3" in card
    await staff_click(h, "✍️", STAFF)
    await staff_click(h, "Русский", STAFF)
    await staff_send(h, ANSWER_RU, STAFF)
    assert "Нужен перевод: Қазақша, English" in staff_texts(h)[-1]
    await staff_click(h, "English", STAFF)
    await staff_send(h, ANSWER_EN, STAFF)
    await staff_click(h, "➡️", STAFF)
    await staff_click(h, "Научная библиотека", STAFF)
    await staff_click(h, "✅", STAFF)
    done = staff_texts(h)[-1]
    assert "Опубликовано как запись FAQ staff-" in done
    assert "Нужен перевод: Қазақша" in done and "получат ответ: 2" in done
    [group] = [g for g in await rows(h, UnansweredGroup) if g.status == "answered"]
    assert group.faq_key and group.faq_key.startswith("staff-")

    # the next student gets the FAQ answer, in the languages the entry has
    await h.send("где распечатать курсовую?", user=STUDENT_RU)
    text = h.last_text(STUDENT_RU.id)
    assert ANSWER_RU in text and "🗂 FAQ · Научная библиотека" in text
    assert "📖" not in text and "п. " not in text  # never a clause citation
    assert "📄" not in " ".join(h.buttons(STUDENT_RU.id))
    await h.send("где распечатать курсовую?", user=STUDENT_EN)
    text = h.last_text(STUDENT_EN.id)
    assert ANSWER_EN in text and "🗂 FAQ · University Library" in text
    assert "not translated" not in text
    # Kazakh was not written: the Russian text with a note, in the Kazakh interface
    await h.send("где распечатать курсовую?", user=STUDENT)
    text = h.last_text(STUDENT.id)
    assert ANSWER_RU in text and "әлі аударылмаған" in text and "орыс тілінде" in text
    assert "FAQ · Ғылыми кітапхана" in text
    kinds = [q.kind for q in await rows(h, Question)][-3:]
    assert kinds == ["faq", "faq", "faq"]

    # the earlier askers are told once each (outside quiet hours), in their language
    broadcasts = h.ctx.services.broadcasts
    await broadcasts.drain(h.bot)
    await h.ctx.services.unanswered.tick()
    await broadcasts.drain(h.bot)
    for user in (STUDENT_RU, STUDENT_RU2):
        follow = [m.text for m in sent_to(h, user.id) if "ответили сотрудники" in m.text]
        assert len(follow) == 1, follow
        assert ANSWER_RU in follow[0] and "FAQ · Научная библиотека" in follow[0]
    assert not [m for m in sent_to(h, STUDENT_EN.id) if "staff have answered" in m.text]
    notes = await rows(h, FaqNotification)
    assert sorted(n.user_id for n in notes) == [STUDENT_RU.id, STUDENT_RU2.id]
    assert {n.status for n in notes} == {"queued"}


async def test_follow_ups_wait_for_the_end_of_quiet_hours_and_respect_reminder_settings(
    harness: Harness,
) -> None:
    h = harness
    await make_user(h, STUDENT_RU2.id, lang="ru", profile={"remind_announcements": False})
    daytime(h, hour=23)
    await make_staff(h, STAFF)
    await _ask_the_unanswerable(h)
    await _publish(h)
    await h.ctx.services.broadcasts.drain(h.bot)
    assert not [m for m in sent_to(h, STUDENT_RU.id) if "ответили сотрудники" in m.text]
    assert {n.status for n in await rows(h, FaqNotification)} == {"pending"}
    # morning: the tick queues them; the student who switched announcements off is skipped
    daytime(h, hour=9)
    assert await h.ctx.services.unanswered.tick() == 1
    await h.ctx.services.broadcasts.drain(h.bot)
    assert len([m for m in sent_to(h, STUDENT_RU.id) if "ответили сотрудники" in m.text]) == 1
    assert not [m for m in sent_to(h, STUDENT_RU2.id) if "ответили сотрудники" in m.text]
    statuses = {n.user_id: n.status for n in await rows(h, FaqNotification)}
    assert statuses == {STUDENT_RU.id: "queued", STUDENT_RU2.id: "skipped"}


async def test_a_thumbs_down_enters_the_queue(harness: Harness) -> None:
    h = harness
    await h.send("can i pay the tuition in instalments", user=STUDENT_EN)
    assert "FAQ · Accounting and Finance Office" in h.last_text(STUDENT_EN.id)
    assert await rows(h, UnansweredItem) == []  # an FAQ answer is an answer
    await h.click_button("👎", user=STUDENT_EN)
    [item] = await rows(h, UnansweredItem)
    assert item.reason == "disliked" and item.user_id == STUDENT_EN.id


async def test_answered_by_a_clause_teaches_the_matcher(harness: Harness) -> None:
    h = harness
    daytime(h)
    await make_staff(h, STAFF)
    question = "кто проверяет что я захожу на занятия каждый день"
    await h.send(question, user=STUDENT_RU)
    await staff_send(h, "/unanswered", STAFF)
    await staff_click(h, "1", STAFF)
    await staff_click(h, "📖", STAFF)
    await staff_send(h, "9.9", STAFF)
    assert "Положении № 066 нет пункта" in staff_texts(h)[-1]
    await staff_send(h, "5.4.11", STAFF)
    assert "п. 5.4.11" in staff_texts(h)[-1]
    await staff_click(h, "✅", STAFF)
    assert "отвечает п. 5.4.11" in staff_texts(h)[-1]
    [example] = await rows(h, ClauseExampleRow)
    assert (example.text, example.language, example.clause_id) == (question, "ru", "5.4.11")
    # the same question is now answered with the clause, quoted and cited
    await h.send("кто проверяет что я захожу на занятия каждый день?", user=STUDENT_RU2)
    text = h.last_text(STUDENT_RU2.id)
    assert "Положение № 066, п. 5.4.11" in text
    [*_earlier, last] = await rows(h, Question)
    assert last.kind == "answer" and last.clauses[0] == "5.4.11"
    # and the asker is told which clause answers it
    await h.ctx.services.broadcasts.drain(h.bot)
    [follow] = [m.text for m in sent_to(h, STUDENT_RU.id) if "ответили сотрудники" in m.text]
    assert "п. 5.4.11" in follow


async def test_not_for_us_leaves_the_list_and_keeps_its_look_alikes_out(
    harness: Harness,
) -> None:
    h = harness
    await make_staff(h, STAFF)
    await h.send("можно ли приходить на пары с собакой", user=STUDENT_RU)
    await staff_send(h, "/unanswered", STAFF)
    await staff_click(h, "1", STAFF)
    await staff_click(h, "🚫", STAFF)
    assert "отмечена «не к нам»" in staff_texts(h)[-1]
    await h.send("можно ли приходить на пары с собакой?", user=STUDENT_RU2)
    await staff_send(h, "/unanswered", STAFF)
    assert "Вопросов без ответа нет" in staff_texts(h)[-1]
    items = await rows(h, UnansweredItem)
    assert len(items) == 2 and len({i.group_id for i in items}) == 1


async def test_a_non_staff_user_gets_nothing_from_unanswered(harness: Harness) -> None:
    h = harness
    await make_staff(h, STAFF)
    await h.send(PRINTING, user=STUDENT_RU)
    # a student in a private chat: an unknown command, no queue
    await h.send("/unanswered", user=STUDENT_EN)
    assert "don't know this command" in h.last_text(STUDENT_EN.id)
    # a chat member without the staff role in the staff chat: refused, no queue
    await staff_send(h, "/unanswered", STUDENT_EN)
    assert "Only Helpdesk staff" in staff_texts(h)[-1]
    assert not any(PRINTING in t for t in staff_texts(h))
    # a forged "open group" press
    await staff_send(h, "/unanswered", STAFF)
    data = [t for t in staff_texts(h) if PRINTING in t]
    assert data  # staff do see it
    from tests.faq_support import button_data

    forged = button_data(h, "1", STAFF_CHAT_ID)
    calls = await h.click(forged, STUDENT_EN, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    assert "Only Helpdesk staff" in " ".join(h.alerts())
    assert not [c for c in calls if isinstance(c, SendMessage)]


async def test_a_group_answered_meanwhile_is_not_answered_twice(harness: Harness) -> None:
    h = harness
    daytime(h)
    await make_staff(h, STAFF)
    await h.send(PRINTING, user=STUDENT_RU)
    await _publish(h)
    await staff_click(h, "✅", STAFF)  # the old preview's button again
    assert "уже обработана" in " ".join(h.alerts()) + staff_texts(h)[-1]
    assert len([g for g in await rows(h, UnansweredGroup) if g.status == "answered"]) == 1


async def test_staff_help_lists_unanswered_and_offices(harness: Harness) -> None:
    h = harness
    await make_staff(h, STAFF)
    await h.send("/help", user=STAFF)
    assert "/unanswered" in h.last_text(STAFF.id) and "/offices" in h.last_text(STAFF.id)
    await h.send("/help", user=STUDENT_EN)
    assert "/unanswered" not in h.last_text(STUDENT_EN.id)


async def test_follow_ups_queued_before_quiet_hours_wait_for_their_end(harness: Harness) -> None:
    h = harness
    daytime(h, hour=21)
    await make_staff(h, STAFF)
    await _ask_the_unanswerable(h)
    await _publish(h)
    assert {n.status for n in await rows(h, FaqNotification)} == {"queued"}  # at 21:00
    daytime(h, hour=23)  # the sender wakes up inside quiet hours
    for _ in range(3):
        await h.ctx.services.broadcasts.step(h.bot)
    assert not [m for m in sent_to(h, STUDENT_RU.id) if "ответили сотрудники" in m.text]
    daytime(h, hour=9)
    await h.ctx.services.broadcasts.drain(h.bot)
    assert len([m for m in sent_to(h, STUDENT_RU.id) if "ответили сотрудники" in m.text]) == 1
