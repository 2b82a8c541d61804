"""Issue 16, item 1: a student with an open Helpdesk request is not locked in it.

Commands keep working, free text goes to the staff with a visible ✍ mark, and the student can
leave the request with /cancel or the button, having been told how.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiogram.methods import CopyMessage, SendMessage, SetMessageReaction

from tests.harness import STAFF_CHAT_ID, STUDENT_RU, Harness
from tests.test_helpdesk import SATURDAY_11, at, make_staff, of, open_ticket, staff_says, tickets


def copies_to_staff(calls: list[Any]) -> list[CopyMessage]:
    return of(calls, CopyMessage, STAFF_CHAT_ID)


async def test_weekend_request_does_not_lock_the_student_out(harness: Harness) -> None:
    """Saturday: a student opens a request, then needs the bot. /rules, /myapplications and
    /apply answer as usual and reach no one in the staff chat; a question typed afterwards goes
    to the Helpdesk with a ✍ mark and says so; /cancel leaves the request, and the bot answers
    questions again."""
    h, user = harness, STUDENT_RU
    at(h, SATURDAY_11)
    await make_staff(h)
    await h.send("/start", user=user)
    await open_ticket(h, user, "Не могу войти в Platonus", "Техническ")
    notice = h.last_text(user.id)
    assert "/cancel" in notice and "✍" in notice  # told how to leave, and what the mark means

    calls = await h.send("/rules 5.4.5", user=user)
    assert not copies_to_staff(calls)
    assert "5.4.5" in h.last_text(user.id)
    calls = await h.send("/myapplications", user=user)
    assert not copies_to_staff(calls)
    assert "пока нет заявлений" in h.last_text(user.id)
    calls = await h.send("/apply", user=user)
    assert not copies_to_staff(calls) and h.buttons(user.id)  # the wizard's first question
    calls = await h.send("/cancel", user=user)  # leaves the wizard, not the request
    assert "Отменено" in "\n".join(h.texts(user.id)[-2:])
    assert "#1" in h.last_text(user.id) and "открыто" in h.last_text(user.id)
    [ticket] = await tickets(h)
    assert ticket.status == "open"

    # Hours later: /start greets and says where typed text goes now, instead of inviting a
    # question it would not answer.
    at(h, SATURDAY_11 + timedelta(hours=3))
    await h.send("/start", user=user)
    assert "#1" in h.last_text(user.id) and "/cancel" in h.last_text(user.id)

    # A question typed now goes to the staff, and the student sees it was sent.
    calls = await h.send("Можно ли учиться дистанционно по болезни?", user=user)
    assert len(copies_to_staff(calls)) == 1
    [mark] = of(calls, SetMessageReaction)
    assert mark.chat_id == user.id and mark.reaction[0].emoji == "✍"  # type: ignore[union-attr]
    [note] = of(calls, SendMessage, user.id)
    assert "Отправлено в Helpdesk" in note.text and "#1" in note.text
    assert note.reply_parameters is not None

    # The next message of the same turn gets the mark only.
    calls = await h.send("И ещё: сколько процентов?", user=user)
    assert len(copies_to_staff(calls)) == 1 and of(calls, SetMessageReaction)
    assert not of(calls, SendMessage, user.id)

    # /cancel with nothing else in hand: the student leaves the request; staff are told.
    calls = await h.send("/cancel", user=user)
    [ticket] = await tickets(h)
    assert ticket.status == "closed" and ticket.closed_by == user.id
    assert "#1" in h.last_text(user.id)
    assert any("#1" in c.text for c in of(calls, SendMessage, STAFF_CHAT_ID))
    # …and the bot answers questions again.
    calls = await h.send("Можно ли учиться дистанционно по болезни?", user=user)
    assert not copies_to_staff(calls)
    assert "5.4" in h.last_text(user.id)


async def test_a_message_after_the_staff_answer_gets_the_note_again(harness: Harness) -> None:
    h, user = harness, STUDENT_RU
    at(h, SATURDAY_11)
    await make_staff(h)
    await open_ticket(h, user, "Вопрос про LMS", "Техническ")
    await staff_says(h, "Какой браузер?", 100)
    calls = await h.send("Chrome", user=user)
    assert of(calls, SetMessageReaction) and of(calls, SendMessage, user.id)
    # A long pause starts a new turn too.
    at(h, SATURDAY_11 + timedelta(hours=2))
    await h.send("Ещё вопрос", user=user)
    at(h, SATURDAY_11 + timedelta(hours=5))
    calls = await h.send("Алло?", user=user)
    assert of(calls, SendMessage, user.id)


async def test_the_mark_falls_back_to_words_when_reactions_fail(harness: Harness) -> None:
    from aiogram.exceptions import TelegramBadRequest
    from aiogram.methods import SetMessageReaction as Method

    h, user = harness, STUDENT_RU
    at(h, SATURDAY_11)
    await make_staff(h)
    await open_ticket(h, user, "Вопрос про LMS", "Техническ")
    await h.send("Первое", user=user)
    refused = TelegramBadRequest(method=Method(chat_id=1, message_id=1), message="no reactions")
    h.session.fail_next("setMessageReaction", refused)
    calls = await h.send("Второе", user=user)
    assert copies_to_staff(calls) and of(calls, SendMessage, user.id)


async def test_the_button_under_the_notice_leaves_the_request(harness: Harness) -> None:
    h, user = harness, STUDENT_RU
    at(h, SATURDAY_11)
    await make_staff(h)
    await open_ticket(h, user, "Вопрос про LMS", "Техническ")
    await h.send("/help", user=user)
    assert "#1" in h.last_text(user.id)
    await h.click_button("Закрыть", user=user)
    [ticket] = await tickets(h)
    assert ticket.status == "closed"
