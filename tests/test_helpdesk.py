"""Helpdesk handoff: a student asks for a person, staff answer from a forum topic, and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.storage.base import StorageKey
from aiogram.methods import (
    CopyMessage,
    CreateForumTopic,
    EditMessageText,
    SendMessage,
    SetMessageReaction,
)
from sqlalchemy import select

from bot.callbacks import AskPersonCallback
from bot.db.models import Role
from bot.db.models.helpdesk import HelpdeskBan, Ticket, TicketAssignment, TicketMessage
from bot.services.helpdesk import HelpdeskService
from bot.services.users import UserRepository
from handlers.helpdesk import CloseTicketCallback, CommentCallback, RateCallback
from tests.harness import ADMIN, STAFF, STAFF_CHAT_ID, STUDENT, STUDENT_EN, STUDENT_RU, Harness

# Wednesday 25 November 2026, 11:00 in Atyrau (UTC+5): inside working hours.
WEDNESDAY_11 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
# Saturday 28 November 2026, 11:00 in Atyrau.
SATURDAY_11 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)

PHOTO = [{"file_id": "ph1", "file_unique_id": "u-ph1", "width": 90, "height": 90}]
DOCUMENT = {"file_id": "doc1", "file_unique_id": "u-doc1", "file_name": "order.pdf"}
VOICE = {"file_id": "v1", "file_unique_id": "u-v1", "duration": 3}


def helpdesk(h: Harness) -> HelpdeskService:
    service = h.ctx.services.helpdesk
    assert isinstance(service, HelpdeskService)
    return service


def at(h: Harness, moment: datetime) -> None:
    helpdesk(h).clock = lambda: moment


async def make_staff(h: Harness, user_id: int = STAFF.id) -> None:
    async with h.ctx.sessionmaker() as session:
        await UserRepository(session).set_role(user_id, Role.STAFF)
        await session.commit()


async def tickets(h: Harness) -> list[Ticket]:
    async with h.ctx.sessionmaker() as session:
        return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def messages(h: Harness, ticket_id: int) -> list[TicketMessage]:
    async with h.ctx.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(TicketMessage)
                    .where(TicketMessage.ticket_id == ticket_id)
                    .order_by(TicketMessage.id)
                )
            ).all()
        )


def of(calls: list[Any], kind: type[Any], chat_id: int | None = None) -> list[Any]:
    return [c for c in calls if isinstance(c, kind) and (chat_id is None or c.chat_id == chat_id)]


async def open_ticket(
    h: Harness,
    user: Any = STUDENT_EN,
    question: str = "My LMS password does not work",
    topic: str = "Technical",
) -> list[Any]:
    await h.send("/human", user=user)
    await h.click_button(topic, user=user)
    return await h.send(question, user=user)


async def staff_says(
    h: Harness, text: str, thread_id: int, user: Any = STAFF, **kw: Any
) -> list[Any]:
    return await h.send(
        text, user=user, chat_id=STAFF_CHAT_ID, chat_type="supergroup", thread_id=thread_id, **kw
    )


async def test_relay_both_ways_through_a_forum_topic(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await harness.send("/human", user=STUDENT_EN)
    assert "What is it about?" in harness.last_text()
    assert harness.buttons() == [
        "📝 Application",
        "🗓 Schedule and access",
        "🛠 Technical problem",
        "💬 Other",
    ]
    await harness.click_button("Technical", user=STUDENT_EN)
    assert "write your question in one message" in harness.last_text()
    calls: list[Any] = await harness.send("My LMS password does not work", user=STUDENT_EN)

    topic = of(calls, CreateForumTopic)[0]
    assert topic.chat_id == STAFF_CHAT_ID and topic.name.startswith("#1 John Smith")
    card = of(calls, SendMessage, STAFF_CHAT_ID)[0]
    assert card.message_thread_id == 100
    assert "#1" in card.text and str(STUDENT_EN.id) in card.text and "en" in card.text
    copied = of(calls, CopyMessage, STAFF_CHAT_ID)[0]
    assert copied.from_chat_id == STUDENT_EN.id and copied.message_thread_id == 100
    to_student = of(calls, SendMessage, STUDENT_EN.id)[-1]
    assert "Request #1 is open" in to_student.text and "outside" not in to_student.text
    assert "Close the request" in harness.buttons(STUDENT_EN.id)[0]

    # The student's further messages (text, photo, document, voice) go to the same topic,
    # and the bot only marks each as sent (✍).
    for content in (
        {"text": "Is it the same as the Platonus password?"},
        {"photo": PHOTO},
        {"document": DOCUMENT},
        {"voice": VOICE},
    ):
        calls = await harness.send_content(STUDENT_EN, **content)
        assert [type(c) for c in calls] == [CopyMessage, SetMessageReaction]
        copies = [(c.chat_id, c.message_thread_id) for c in of(calls, CopyMessage)]
        assert copies == [(STAFF_CHAT_ID, 100)]

    # Staff answer in the topic: text and a document reach the student.
    calls = await staff_says(harness, "Reset it at lms.atyrau.edu.kz, then log in again.", 100)
    assert [(type(c), c.chat_id) for c in calls] == [(CopyMessage, STUDENT_EN.id)]
    calls = await harness.send_content(
        STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup", thread_id=100, document=DOCUMENT
    )
    assert of(calls, CopyMessage, STUDENT_EN.id)

    [ticket] = await tickets(harness)
    assert ticket.status == "open" and ticket.thread_id == 100 and ticket.topic == "technical"
    assert ticket.first_response_at == WEDNESDAY_11 and ticket.assignee_id == STAFF.id
    assert ticket.waiting_since is None
    log = await messages(harness, ticket.id)
    assert [m.direction for m in log] == ["in"] * 5 + ["out"] * 2
    assert all(m.student_message_id and m.staff_message_id for m in log)
    assert [m.content_type for m in log[1:5]] == ["text", "photo", "document", "voice"]


async def test_replies_and_edits_map_across(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    [first] = await messages(harness, 1)
    # Staff reply to the student's copied question: the student sees a reply to their original.
    calls = await staff_says(
        harness,
        "Which browser?",
        100,
        reply_to={
            "message_id": first.staff_message_id,
            "date": 0,
            "chat": {"id": STAFF_CHAT_ID, "type": "supergroup"},
        },
    )
    copy = of(calls, CopyMessage, STUDENT_EN.id)[0]
    assert copy.reply_parameters.message_id == first.student_message_id
    # The student edits the question: the copy in the topic changes too.
    payload = harness.message_payload(STUDENT_EN, text="My LMS password fails in Chrome")
    payload["message_id"] = first.student_message_id
    payload["edit_date"] = 1
    calls = await harness.feed({"edited_message": payload})
    edit = of(calls, EditMessageText, STAFF_CHAT_ID)[0]
    assert edit.message_id == first.staff_message_id and "Chrome" in edit.text


async def test_ticket_survives_a_restart(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    fresh = await harness.restart()
    calls: list[Any] = await fresh.send("Still waiting, any news?", user=STUDENT_EN)
    assert [(c.chat_id, c.message_thread_id) for c in of(calls, CopyMessage)] == [
        (STAFF_CHAT_ID, 100)
    ]
    calls = await staff_says(fresh, "Yes, fixed now.", 100)
    assert of(calls, CopyMessage, STUDENT_EN.id)


async def test_two_open_tickets_stay_apart(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness, STUDENT_EN, "When does the orientation week start?", "Schedule")
    await open_ticket(harness, STUDENT_RU, "Где подать заявление?", "📝")
    t_en, t_ru = await tickets(harness)
    assert (t_en.thread_id, t_ru.thread_id) == (100, 101)
    assert (t_en.topic, t_ru.topic) == ("schedule", "application")

    calls = await staff_says(harness, "В деканате или через бот: /apply", 101)
    assert [c.chat_id for c in of(calls, CopyMessage)] == [STUDENT_RU.id]
    calls = await staff_says(harness, "On 1 September.", 100)
    assert [c.chat_id for c in of(calls, CopyMessage)] == [STUDENT_EN.id]
    calls = await harness.send("Спасибо", user=STUDENT_RU)
    assert [c.message_thread_id for c in of(calls, CopyMessage)] == [101]

    # /tickets lists both with age and assignee (the first answer assigned them).
    calls = await harness.send(
        "/tickets", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
    )
    listing = of(calls, SendMessage, STAFF_CHAT_ID)[0].text
    assert "#1" in listing and "#2" in listing and "Dana Helpdesk" in listing
    assert "John Smith" in listing and "Ivan Petrov" in listing


async def test_tickets_list_costs_the_same_queries_for_one_ticket_or_three(
    harness: Harness,
) -> None:
    """/tickets reads tickets, students and assignees in one query, not two per ticket."""
    from sqlalchemy import event

    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def tickets_listing() -> tuple[str, int]:
        statements.clear()
        calls = await harness.send(
            "/tickets", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup"
        )
        return of(calls, SendMessage, STAFF_CHAT_ID)[0].text, len(statements)

    engine = harness.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await open_ticket(harness, STUDENT_EN, topic="🛠")
        await tickets_listing()  # the first command of the staff member reads a little more
        one, queries_for_one = await tickets_listing()
        await open_ticket(harness, STUDENT_RU, topic="🛠")
        await open_ticket(harness, STUDENT, topic="🛠")
        three, queries_for_three = await tickets_listing()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert "#1" in one and "#2" not in one
    assert "#1" in three and "#2" in three and "#3" in three
    assert queries_for_three <= queries_for_one  # caches may save one; tickets add none


async def test_out_of_hours_still_opens_and_says_when(harness: Harness) -> None:
    at(harness, SATURDAY_11)
    calls = await open_ticket(harness)
    text = of(calls, SendMessage, STUDENT_EN.id)[-1].text
    assert "Request #1 is open" in text
    assert "outside the Helpdesk's working hours" in text
    assert "09:00 on 30.11.2026" in text  # Monday morning
    assert of(calls, CopyMessage, STAFF_CHAT_ID)


async def test_working_hours_skip_weekends_and_holidays(harness: Harness) -> None:
    hours = helpdesk(harness).hours
    # 16 December is Independence Day: a Wednesday without working hours.
    holiday = datetime(2026, 12, 16, 6, 0, tzinfo=UTC)
    assert not hours.is_open(holiday) and not hours.is_open(SATURDAY_11)
    assert hours.is_open(WEDNESDAY_11)
    assert hours.next_opening(holiday).strftime("%d.%m %H:%M") == "17.12 09:00"
    # Friday 17:50 to Monday 09:10 local: ten minutes on Friday, ten on Monday.
    friday = datetime(2026, 11, 27, 12, 50, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 4, 10, tzinfo=UTC)
    assert hours.minutes_between(friday, monday) == 20


async def test_sla_raises_an_unanswered_ticket_again(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    service = helpdesk(harness)
    before = len(harness.session.requests)
    assert (
        await service.check_sla(harness.bot, now=datetime(2026, 11, 25, 6, 29, tzinfo=UTC)) == []
    )
    assert await service.check_sla(harness.bot, now=datetime(2026, 11, 25, 6, 31, tzinfo=UTC)) == [
        1
    ]
    ping = harness.session.requests[before:]
    assert len(ping) == 1 and isinstance(ping[0], SendMessage)
    assert ping[0].chat_id == STAFF_CHAT_ID and ping[0].message_thread_id == 100
    assert "⏰" in ping[0].text and "#1" in ping[0].text and "31" in ping[0].text
    # Not again at once; again after another SLA period.
    assert (
        await service.check_sla(harness.bot, now=datetime(2026, 11, 25, 6, 45, tzinfo=UTC)) == []
    )
    assert await service.check_sla(harness.bot, now=datetime(2026, 11, 25, 7, 2, tzinfo=UTC)) == [
        1
    ]
    # An answer stops the clock.
    await make_staff(harness)
    await staff_says(harness, "Looking into it.", 100)
    assert await service.check_sla(harness.bot, now=datetime(2026, 11, 25, 9, 0, tzinfo=UTC)) == []


async def test_sla_counts_working_hours_only(harness: Harness) -> None:
    at(harness, datetime(2026, 11, 27, 12, 50, tzinfo=UTC))  # Friday 17:50 local
    await open_ticket(harness)
    service = helpdesk(harness)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    monday_0915 = datetime(2026, 11, 30, 4, 15, tzinfo=UTC)
    monday_0921 = datetime(2026, 11, 30, 4, 21, tzinfo=UTC)
    assert await service.check_sla(harness.bot, now=saturday) == []
    assert await service.check_sla(harness.bot, now=monday_0915) == []
    assert await service.check_sla(harness.bot, now=monday_0921) == [1]


async def test_staff_close_asks_for_a_rating_and_stores_it(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    await staff_says(harness, "Done, try again.", 100)
    calls = await staff_says(harness, "/close", 100)
    to_student = [c.text for c in of(calls, SendMessage, STUDENT_EN.id)]
    assert "closed your request #1" in to_student[0]
    assert "rate" in to_student[1]
    assert harness.buttons(STUDENT_EN.id) == ["1 ⭐", "2 ⭐", "3 ⭐", "4 ⭐", "5 ⭐"]
    # The bot answers again once the ticket is closed (no relay).
    calls = await harness.click_button("4", user=STUDENT_EN)
    assert "Your rating: 4 of 5" in harness.last_text(STUDENT_EN.id)
    assert harness.buttons(STUDENT_EN.id) == ["✍️ Add a comment"]
    assert any(
        isinstance(c, SendMessage) and c.chat_id == STAFF_CHAT_ID and "4" in c.text for c in calls
    )
    await harness.click_button("Add a comment", user=STUDENT_EN)
    assert "Write your comment in one message" in harness.last_text(STUDENT_EN.id)
    assert harness.buttons(STUDENT_EN.id) == ["Skip"]
    calls = await harness.send("Quick and clear, <b>thanks</b>!", user=STUDENT_EN)
    assert "Thank you for your feedback" in harness.last_text(STUDENT_EN.id)
    assert not of(calls, CopyMessage)
    [note] = of(calls, SendMessage, STAFF_CHAT_ID)
    assert note.message_thread_id == 100
    assert "#1" in note.text and "Quick and clear, &lt;b&gt;thanks&lt;/b&gt;!" in note.text
    [ticket] = await tickets(harness)
    assert ticket.status == "closed" and ticket.closed_by == STAFF.id and ticket.closed_at
    assert ticket.rating == 4 and ticket.rating_comment == "Quick and clear, <b>thanks</b>!"
    # Staff writing into the closed topic are told it does not reach the student.
    calls = await staff_says(harness, "One more thing", 100)
    assert not of(calls, CopyMessage) and of(calls, SendMessage, STAFF_CHAT_ID)


async def test_student_closes_the_ticket_and_may_skip_the_comment(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    calls = await harness.click_button("Close the request", user=STUDENT_EN)
    staff_note = of(calls, SendMessage, STAFF_CHAT_ID)
    assert staff_note and staff_note[0].message_thread_id == 100 and "#1" in staff_note[0].text
    await harness.click_button("5", user=STUDENT_EN)
    await harness.click_button("Add a comment", user=STUDENT_EN)
    await harness.click_button("Skip", user=STUDENT_EN)
    assert harness.last_text(STUDENT_EN.id) == "Thank you for your feedback!"
    # The comment step is over: the next message is a question, answered by the bot.
    calls = await harness.send("Who has the right to amend the regulation?", user=STUDENT_EN)
    assert "Regulation No. 066, clause 7" in harness.last_text(STUDENT_EN.id)
    assert not of(calls, SendMessage, STAFF_CHAT_ID)
    [ticket] = await tickets(harness)
    assert ticket.status == "closed" and ticket.closed_by == STUDENT_EN.id and ticket.rating == 5
    assert ticket.rating_comment is None


async def test_the_message_after_a_rating_is_answered_not_taken_as_a_comment(
    harness: Harness,
) -> None:
    """A student rates the closed request, then asks the bot something: the question is
    answered, nothing is relayed to the staff, and no comment is stored."""
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    await harness.click_button("Close the request", user=STUDENT_EN)
    calls = await harness.click_button("4", user=STUDENT_EN)
    assert [c.text for c in of(calls, EditMessageText, STUDENT_EN.id)] == [
        "Thank you! Your rating: 4 of 5. To add a comment for the Helpdesk, press the button "
        "below."
    ]
    assert harness.buttons(STUDENT_EN.id) == ["✍️ Add a comment"]
    # Rating starts no comment step.
    fsm_key = StorageKey(bot_id=harness.bot.id, chat_id=STUDENT_EN.id, user_id=STUDENT_EN.id)
    assert await harness.ctx.storage.get_state(fsm_key) is None

    calls = await harness.send("Who has the right to amend the regulation?", user=STUDENT_EN)
    answer = harness.last_text(STUDENT_EN.id)
    assert "Amendments and additions to the Regulation" in answer
    assert "Regulation No. 066, clause 7" in answer
    assert "Thank you for your feedback" not in "\n".join(harness.texts(STUDENT_EN.id))
    assert not of(calls, SendMessage, STAFF_CHAT_ID) and not of(calls, CopyMessage)
    [ticket] = await tickets(harness)
    assert ticket.rating == 4 and ticket.rating_comment is None


@pytest.mark.parametrize(
    "way_out, then",
    [
        ("/cancel", "Cancelled."),
        ("Skip", "Thank you for your feedback!"),
    ],
)
async def test_a_requested_comment_can_be_abandoned(
    harness: Harness, way_out: str, then: str
) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    await harness.click_button("Close the request", user=STUDENT_EN)
    await harness.click_button("3", user=STUDENT_EN)
    await harness.click_button("Add a comment", user=STUDENT_EN)
    if way_out.startswith("/"):
        await harness.send(way_out, user=STUDENT_EN)
    else:
        await harness.click_button(way_out, user=STUDENT_EN)
    assert harness.last_text(STUDENT_EN.id).startswith(then)
    calls = await harness.send("Who has the right to amend the regulation?", user=STUDENT_EN)
    assert "Regulation No. 066, clause 7" in harness.last_text(STUDENT_EN.id)
    assert not of(calls, SendMessage, STAFF_CHAT_ID)
    [ticket] = await tickets(harness)
    assert ticket.rating == 3 and ticket.rating_comment is None


async def test_russian_student_adds_a_comment_after_rating(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness, STUDENT_RU, question="Не могу войти в Platonus", topic="Техн")
    await staff_says(harness, "/close", 100)
    await harness.click_button("2", user=STUDENT_RU)
    assert "Ваша оценка: 2 из 5" in harness.last_text(STUDENT_RU.id)
    assert harness.buttons(STUDENT_RU.id) == ["✍️ Добавить комментарий"]
    await harness.click_button("Добавить комментарий", user=STUDENT_RU)
    assert "одним сообщением" in harness.last_text(STUDENT_RU.id)
    calls = await harness.send("Долго ждал ответа", user=STUDENT_RU)
    assert harness.last_text(STUDENT_RU.id) == "Спасибо за отзыв!"
    assert any("Долго ждал ответа" in c.text for c in of(calls, SendMessage, STAFF_CHAT_ID))
    [ticket] = await tickets(harness)
    assert ticket.rating == 2 and ticket.rating_comment == "Долго ждал ответа"


async def test_add_a_comment_does_not_throw_away_an_unfinished_application(
    harness: Harness,
) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    await harness.click_button("Close the request", user=STUDENT_EN)
    await harness.click_button("5", user=STUDENT_EN)
    await harness.send("/apply", user=STUDENT_EN)
    await harness.click("ap:kind:dl", STUDENT_EN)
    await harness.click(CommentCallback(ticket_id=1).pack(), user=STUDENT_EN)
    assert harness.alerts()[-1] == "Please answer the question above, or send /cancel to stop."
    await harness.click("ap:ground:health", STUDENT_EN)
    assert "Who is applying" in harness.last_text(STUDENT_EN.id)
    [ticket] = await tickets(harness)
    assert ticket.rating_comment is None


async def test_student_can_close_with_a_command(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    calls = await harness.send("/close", user=STUDENT_EN)
    assert not of(calls, CopyMessage)
    assert "Request #1 is closed" in of(calls, SendMessage, STUDENT_EN.id)[0].text
    [ticket] = await tickets(harness)
    assert ticket.status == "closed"


async def test_take_assigns_and_tells_the_student(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    calls = await staff_says(harness, "/take", 100)
    assert "Dana" in of(calls, SendMessage, STUDENT_EN.id)[0].text
    async with harness.ctx.sessionmaker() as session:
        assignments = (await session.scalars(select(TicketAssignment))).all()
    assert [(a.ticket_id, a.staff_id) for a in assignments] == [(1, STAFF.id)]
    # An admin (no staff row needed) may take it over.
    await staff_says(harness, "/take", 100, user=ADMIN)
    [ticket] = await tickets(harness)
    assert ticket.assignee_id == ADMIN.id


async def test_non_staff_in_the_staff_chat_is_not_relayed(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    # STUDENT (a plain student) somehow sits in the staff chat.
    calls = await staff_says(harness, "hi, I am not staff", 100, user=STUDENT)
    assert not of(calls, CopyMessage)
    calls = await staff_says(harness, "/close", 100, user=STUDENT)
    assert not of(calls, CopyMessage) and not of(calls, SendMessage, STUDENT_EN.id)
    [ticket] = await tickets(harness)
    assert ticket.status == "open"
    assert len(await messages(harness, 1)) == 1


async def test_a_student_cannot_act_on_another_students_ticket(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness, STUDENT_EN)
    await harness.click(CloseTicketCallback(ticket_id=1).pack(), user=STUDENT_RU)
    await harness.click(RateCallback(ticket_id=1, score=1).pack(), user=STUDENT_RU)
    # STUDENT_RU's text is not relayed anywhere: they have no ticket.
    calls = await harness.send("hello?", user=STUDENT_RU)
    assert not of(calls, CopyMessage)
    [ticket] = await tickets(harness)
    assert ticket.status == "open" and ticket.rating is None


async def test_banned_student_cannot_open_tickets_until_unbanned(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness, question="you are all useless!!!")
    calls = await staff_says(harness, "/ban", 100)
    assert (
        of(calls, SendMessage, STUDENT_EN.id)[0].text
        == "The Helpdesk has closed this conversation."
    )
    [ticket] = await tickets(harness)
    assert ticket.status == "closed"
    async with harness.ctx.sessionmaker() as session:
        assert await session.get(HelpdeskBan, STUDENT_EN.id) is not None

    calls = await harness.send("/human", user=STUDENT_EN)
    assert harness.last_text(STUDENT_EN.id) == "You cannot open helpdesk requests."
    await harness.click(AskPersonCallback(question_id=0).pack(), user=STUDENT_EN)
    assert harness.last_text(STUDENT_EN.id) == "You cannot open helpdesk requests."
    assert len(await tickets(harness)) == 1

    await staff_says(harness, "/unban", 100)
    await harness.send("/human", user=STUDENT_EN)
    assert "What is it about?" in harness.last_text(STUDENT_EN.id)


async def test_ask_person_button_opens_a_ticket_and_clears_a_wizard(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    from aiogram.fsm.storage.base import StorageKey

    key = StorageKey(
        bot_id=harness.bot.id, chat_id=STUDENT_EN.id, user_id=STUDENT_EN.id, destiny="default"
    )
    await harness.ctx.storage.set_state(key, "SomeWizard:step")
    await harness.ctx.storage.set_data(key, {"draft": "x"})
    await harness.click(AskPersonCallback(question_id=77).pack(), user=STUDENT_EN)
    assert "What is it about?" in harness.last_text(STUDENT_EN.id)
    assert await harness.ctx.storage.get_state(key) == "HelpdeskForm:topic"
    assert "draft" not in await harness.ctx.storage.get_data(key)
    await harness.click_button("Other", user=STUDENT_EN)
    await harness.send("I need a person", user=STUDENT_EN)
    [ticket] = await tickets(harness)
    assert ticket.question_id == 77 and ticket.topic == "other"


async def test_chat_without_topics_falls_back_to_replies(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    harness.session.fail_next(
        "createForumTopic",
        TelegramBadRequest(
            CreateForumTopic(chat_id=STAFF_CHAT_ID, name="x"),
            "Bad Request: the chat is not a forum",
        ),
    )
    calls = await open_ticket(harness)
    card = of(calls, SendMessage, STAFF_CHAT_ID)[0]
    assert card.message_thread_id is None and "#1" in card.text
    copy = of(calls, CopyMessage, STAFF_CHAT_ID)[0]
    assert copy.message_thread_id is None
    [ticket] = await tickets(harness)
    assert ticket.relay_mode == "reply" and ticket.thread_id is None
    [question] = await messages(harness, 1)
    assert copy.reply_parameters.message_id == ticket.card_message_id

    # Staff answer by replying to the relayed question (no thread in this chat).
    reply_to = {
        "message_id": question.staff_message_id,
        "date": 0,
        "chat": {"id": STAFF_CHAT_ID, "type": "supergroup"},
    }
    calls = await harness.send(
        "Try the reset link.",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        reply_to=reply_to,
    )
    assert [c.chat_id for c in of(calls, CopyMessage)] == [STUDENT_EN.id]
    # A plain message in the chat (no reply) reaches nobody.
    calls = await harness.send("lunch?", user=STAFF, chat_id=STAFF_CHAT_ID, chat_type="supergroup")
    assert not of(calls, CopyMessage)

    # The mode is remembered: the next ticket does not try to create a topic.
    calls = await open_ticket(harness, STUDENT_RU, "Расписание?", "🗓")
    assert not of(calls, CreateForumTopic)
    calls = await harness.send(
        "/close",
        user=STAFF,
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        reply_to={
            "message_id": (await tickets(harness))[1].card_message_id,
            "date": 0,
            "chat": {"id": STAFF_CHAT_ID, "type": "supergroup"},
        },
    )
    assert of(calls, SendMessage, STUDENT_RU.id)
    assert [t.status for t in await tickets(harness)] == ["open", "closed"]


async def test_messages_are_in_the_students_language(harness: Harness) -> None:
    at(harness, SATURDAY_11)
    await harness.send("/human", user=STUDENT_RU)
    assert (
        harness.last_text(STUDENT_RU.id) == "Я передам ваш вопрос сотруднику Helpdesk. О чём он?"
    )
    assert harness.buttons(STUDENT_RU.id)[0] == "📝 Заявление"
    await harness.click_button("📝", user=STUDENT_RU)
    await harness.send("Вопрос", user=STUDENT_RU)
    text = harness.last_text(STUDENT_RU.id)
    assert text.startswith("Обращение #1 открыто")
    assert "ответ ожидайте после 09:00 30.11.2026" in text
    # The staff chat reads the default language (kk) whatever the student's.
    card = harness.texts(STAFF_CHAT_ID)[0]
    assert "Сұрау #1" in card and "Тіл: ru" in card and "Жұмыс уақытынан тыс" in card


async def test_a_deleted_topic_is_reopened_for_the_next_message(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await open_ticket(harness)
    harness.session.fail_next(
        "copyMessage",
        TelegramBadRequest(
            CopyMessage(chat_id=STAFF_CHAT_ID, from_chat_id=1, message_id=1),
            "Bad Request: message thread not found",
        ),
    )
    calls = await harness.send("Hello? Anyone?", user=STUDENT_EN)
    assert len(of(calls, CreateForumTopic)) == 1
    assert of(calls, SendMessage, STAFF_CHAT_ID)[0].message_thread_id == 101  # the new card
    assert [c.message_thread_id for c in of(calls, CopyMessage)] == [100, 101]
    assert not of(calls, SendMessage, STUDENT_EN.id)
    [ticket] = await tickets(harness)
    assert ticket.thread_id == 101 and ticket.status == "open"


async def test_unreachable_staff_chat_keeps_the_question_step(harness: Harness) -> None:
    from aiogram.exceptions import TelegramForbiddenError

    at(harness, WEDNESDAY_11)
    await harness.send("/human", user=STUDENT_EN)
    await harness.click_button("Technical", user=STUDENT_EN)
    harness.session.fail_next(
        "sendMessage",
        TelegramForbiddenError(
            SendMessage(chat_id=STAFF_CHAT_ID, text="x"),
            "Forbidden: bot was kicked from the supergroup chat",
        ),
    )
    await harness.send("Help with Moodle", user=STUDENT_EN)
    assert "could not reach the Helpdesk" in harness.last_text(STUDENT_EN.id)
    assert await tickets(harness) == []
    calls = await harness.send("Help with Moodle", user=STUDENT_EN)
    assert of(calls, CopyMessage, STAFF_CHAT_ID)
    [ticket] = await tickets(harness)
    assert ticket.topic == "technical" and ticket.status == "open"


async def test_context_card_shows_questions_clauses_and_open_application(harness: Harness) -> None:
    from bot.db.models.applications import Application
    from bot.db.models.knowledge import Question

    at(harness, WEDNESDAY_11)
    await harness.send("/start", user=STUDENT_EN)  # the user row
    async with harness.ctx.sessionmaker() as session:
        session.add(
            Question(
                user_id=STUDENT_EN.id,
                text="Can I study law online?",
                language="en",
                clauses=["6.3", "App1"],
                confidence=0.3,
                kind="answer",
                created_at=WEDNESDAY_11,
            )
        )
        session.add(
            Application(
                user_id=STUDENT_EN.id,
                reference="DL-2026-0007",
                kind="dl",
                status="submitted",
                language="en",
                programme_code="6B04201",
            )
        )
        await session.commit()
    calls = await open_ticket(harness)
    card = of(calls, SendMessage, STAFF_CHAT_ID)[0].text
    assert "Can I study law online? → 6.3, App1" in card
    assert "6B04201" in card and "DL-2026-0007" in card and "submitted" in card


async def test_tickets_export_csv(harness: Harness, tmp_path: Any) -> None:
    import argparse
    import csv

    from bot.commands.helpdesk import cmd_export

    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    await staff_says(harness, "Fixed.", 100)
    await staff_says(harness, "/close", 100)
    await harness.click_button("5", user=STUDENT_EN)
    out = tmp_path / "tickets.csv"
    args = argparse.Namespace(json=False, csv=True, output=str(out))
    assert await cmd_export(args, harness.ctx.settings) == 0
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["id"] == "1" and row["status"] == "closed" and row["rating"] == "5"
    assert row["first_response_at"].startswith("2026-11-25T06:00") and row["messages"] == "2"
    assert row["assignee_id"] == str(STAFF.id)


async def test_staff_edit_reaches_the_students_copy(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    await staff_says(harness, "Your login is s12345", 100)
    answer = (await messages(harness, 1))[-1]
    payload = harness.message_payload(
        STAFF,
        text="Your login is s123456",
        chat_id=STAFF_CHAT_ID,
        chat_type="supergroup",
        thread_id=100,
    )
    payload["message_id"] = answer.staff_message_id
    payload["edit_date"] = 1
    calls = await harness.feed({"edited_message": payload})
    edit = of(calls, EditMessageText, STUDENT_EN.id)[0]
    assert edit.message_id == answer.student_message_id and edit.text == "Your login is s123456"
    assert (await messages(harness, 1))[-1].edited_at == WEDNESDAY_11


async def test_ask_a_person_under_an_answer_carries_the_question(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await harness.send("/start", user=STUDENT_EN)
    await harness.click_button("English", user=STUDENT_EN)
    await harness.send("Can I study law online?", user=STUDENT_EN)
    await harness.click_button("Ask a person", user=STUDENT_EN)
    assert "What is it about?" in harness.last_text(STUDENT_EN.id)
    await harness.click_button("Other", user=STUDENT_EN)
    calls = await harness.send("Please confirm for 6B04201", user=STUDENT_EN)
    card = of(calls, SendMessage, STAFF_CHAT_ID)[0].text
    assert "Can I study law online? → " in card
    [ticket] = await tickets(harness)
    assert ticket.question_id is not None
    # While the ticket is open, questions get no automatic answer: they go to the staff.
    calls = await harness.send("What is MOOC?", user=STUDENT_EN)
    assert [type(c) for c in calls] == [CopyMessage, SetMessageReaction]


async def test_sla_worker_keeps_running_after_a_failed_round(harness: Harness) -> None:
    import asyncio

    import pytest

    service = helpdesk(harness)
    service.poll_seconds = 0
    rounds: list[int] = []

    async def flaky(bot: Any, now: Any = None) -> list[int]:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("database went away")
        if len(rounds) == 3:
            raise asyncio.CancelledError
        return []

    service.check_sla = flaky  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await service.run_forever(harness.bot)
    assert len(rounds) == 3


def test_cli_tickets_export(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/bot.db")
    assert main(["tickets", "export", "--csv"]) == 0
    assert capsys.readouterr().out.startswith("id,user_id,status,topic,language")
    assert main(["tickets", "export", "--json", "-o", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.json").read_text() == "[]\n"


async def test_a_closed_tickets_topic_is_marked_done(harness: Harness) -> None:
    from aiogram.methods import EditForumTopic

    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness)
    calls = await staff_says(harness, "/close", 100)
    [rename] = of(calls, EditForumTopic)
    assert rename.message_thread_id == 100 and rename.name.startswith("✅ #1 John Smith")


async def test_language_switch_during_a_ticket_is_respected(harness: Harness) -> None:
    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    await open_ticket(harness, STUDENT_RU, "Вопрос про LMS", "🛠")
    calls = await harness.send("/language", user=STUDENT_RU)  # common answers, not relayed
    assert not of(calls, CopyMessage)
    await harness.click_button("English", user=STUDENT_RU)
    await staff_says(harness, "/close", 100)
    texts = harness.texts(STUDENT_RU.id)
    assert "The Helpdesk has closed your request #1" in texts[-2]


async def test_a_new_students_first_question_reads_no_tickets_and_a_request_still_relays(
    harness: Harness,
) -> None:
    """The first message makes the student's row, so no ticket can name them yet: the question
    is answered without reading the tickets (issue 18). Once they open a request, their next
    messages go to the helpdesk, not to the search."""
    from sqlalchemy import event

    at(harness, WEDNESDAY_11)
    await make_staff(harness)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = harness.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        await harness.send("Who has the right to amend the regulation?", user=STUDENT_EN)
        first = list(statements)
        await harness.send("What is online proctoring?", user=STUDENT_EN)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    answers = harness.texts(STUDENT_EN.id)
    assert "Regulation No. 066, clause 7" in answers[-2]
    assert "Regulation No. 066, clause 3.9" in answers[-1]
    assert any("INSERT INTO users" in s for s in first)  # the row was made by this message
    assert not any("helpdesk_tickets" in s for s in statements)
    await open_ticket(harness, STUDENT_EN)
    calls = await harness.send("Is it the same as the Platonus password?", user=STUDENT_EN)
    assert [type(c) for c in calls] == [CopyMessage, SetMessageReaction]
