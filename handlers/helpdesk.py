"""Student side of the helpdesk: open a ticket, talk to a person, close it and rate the answer.

While a ticket is open, what the student types outside a wizard (text, photos, documents) is
relayed to the staff chat and marked ✍ as sent; commands and the menu keep working as usual, and
/cancel, /close or the button under the notice leave the request.
"""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReactionTypeEmoji, ReplyParameters
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AskPersonCallback
from bot.db.models import User
from bot.db.models.helpdesk import Direction, Ticket, TicketStatus, TicketTopic
from bot.edits import edit_or_send
from bot.filters import OpenTicket
from bot.flows.helpdesk import already_open, begin_request, student_closes
from bot.i18n import current_locale, use_locale
from bot.menu import MENU_ASK, MENU_HUMAN, is_menu_item, main_menu, not_menu_item
from bot.services.helpdesk import (
    TOPIC_LABELS,
    HelpdeskError,
    HelpdeskService,
    StaffChatUnreachable,
    unreachable_text,
)
from bot.states import HelpdeskForm
from bot.views.helpdesk import (
    CloseTicketCallback,
    CommentCallback,
    RateCallback,
    TopicCallback,
    close_keyboard,
    comment_keyboard,
    open_notice,
    rating_keyboard,
    rating_prompt,
    sent_note,
    skip_keyboard,
    topic_keyboard,
)

log = logging.getLogger(__name__)


class RatingForm(StatesGroup):
    comment = State()


# The mark on each relayed message, and how long a pause makes the next one get a note too.
SENT_MARK = "✍"
NOTE_AFTER = timedelta(minutes=30)


def out_of_hours_notice(helpdesk: HelpdeskService) -> str | None:
    now = helpdesk.now()
    if helpdesk.hours.is_open(now):
        return None
    opening = helpdesk.hours.next_opening(now)
    settings = helpdesk.settings
    return _(
        "⏰ It is outside the Helpdesk's working hours (weekdays {start}–{end}, Atyrau time). "
        "Your request is saved; expect an answer after {time} on {date}."
    ).format(
        start=settings.working_hours_start.strftime("%H:%M"),
        end=settings.working_hours_end.strftime("%H:%M"),
        time=opening.strftime("%H:%M"),
        date=opening.strftime("%d.%m.%Y"),
    )


# Opening ---------------------------------------------------------------------------------------
async def human_command(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    await begin_request(message, state, session, db_user, helpdesk)


async def ask_person_button(
    callback: CallbackQuery,
    callback_data: AskPersonCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    await callback.answer()
    if isinstance(callback.message, Message):
        await begin_request(
            callback.message, state, session, db_user, helpdesk, callback_data.question_id
        )


async def topic_chosen(
    callback: CallbackQuery, callback_data: TopicCallback, state: FSMContext
) -> None:
    try:
        topic = TicketTopic(callback_data.topic)
    except ValueError:
        await callback.answer(_("This button is no longer active."))
        return
    await state.update_data(topic=topic.value)
    await state.set_state(HelpdeskForm.question)
    await callback.answer()
    if isinstance(callback.message, Message):
        await edit_or_send(
            callback.message, _("Topic: {topic}").format(topic=str(TOPIC_LABELS[topic]))
        )
        await callback.message.answer(
            _(
                "Now write your question in one message. You can attach a photo or a document "
                "(for example, a screenshot of the error)."
            )
        )


async def topic_expected(message: Message) -> None:
    await message.answer(
        _("Please pick a topic above, or send /cancel."), reply_markup=topic_keyboard()
    )


async def question_expected(message: Message) -> None:
    """A menu button pressed instead of writing: not a question for the Helpdesk; ask again."""
    await message.answer(
        _(
            "Now write your question in one message. You can attach a photo or a document "
            "(for example, a screenshot of the error)."
        )
    )


async def question_received(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    data = await state.get_data()
    await state.clear()
    try:
        topic = TicketTopic(data.get("topic", TicketTopic.OTHER.value))
    except ValueError:
        topic = TicketTopic.OTHER
    try:
        ticket = await helpdesk.open_ticket(
            bot,
            session,
            user=db_user,
            language=current_locale(),
            topic=topic,
            question=message,
            question_id=int(data.get("question_id") or 0) or None,
        )
    except StaffChatUnreachable as exc:
        # Keep the question step so the student can simply send it again (the ticket is gone).
        await state.set_state(HelpdeskForm.question)
        await state.set_data(data)
        await session.commit()
        await message.answer(str(exc))
        return
    except HelpdeskError as exc:
        await message.answer(str(exc), reply_markup=main_menu())
        return
    if data.get("attachment"):
        await helpdesk.notify_staff(bot, ticket, str(data["attachment"]))
    text = open_notice(ticket)
    late = out_of_hours_notice(helpdesk)
    if late:
        text += "\n\n" + late
    await message.answer(text, reply_markup=close_keyboard(ticket.id))


# An open ticket ------------------------------------------------------------------------------
async def _needs_note(session: AsyncSession, helpdesk: HelpdeskService, ticket: Ticket) -> bool:
    """A note goes with the first message of a turn: after a staff answer or a long pause."""
    last = await helpdesk.last_message(session, ticket)
    return (
        last is None
        or last.direction == Direction.FROM_STAFF.value
        or helpdesk.now() - last.created_at > NOTE_AFTER
    )


async def relay(
    message: Message, bot: Bot, session: AsyncSession, ticket: Ticket, helpdesk: HelpdeskService
) -> None:
    note = await _needs_note(session, helpdesk, ticket)
    try:
        await helpdesk.relay_from_student(bot, session, ticket, message)
    except TelegramAPIError as exc:
        log.warning("ticket %s: could not relay to the staff chat: %s", ticket.id, exc)
        await message.answer(unreachable_text())
        return
    await mark_sent(message, bot, ticket, note=note)


async def mark_sent(message: Message, bot: Bot, ticket: Ticket, *, note: bool) -> None:
    """✍ on the student's message; the words too at a turn's start or if the mark failed."""
    try:
        await bot.set_message_reaction(
            chat_id=message.chat.id,
            message_id=message.message_id,
            reaction=[ReactionTypeEmoji(emoji=SENT_MARK)],
        )
    except TelegramAPIError as exc:
        log.info("ticket %s: could not mark a message as sent: %s", ticket.id, exc)
        note = True
    if note:
        await message.answer(
            sent_note(ticket),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )


async def relay_edit(
    message: Message, bot: Bot, session: AsyncSession, ticket: Ticket, helpdesk: HelpdeskService
) -> None:
    record = await helpdesk.message_by_student_id(session, ticket.id, message.message_id)
    if record is not None:
        await helpdesk.mirror_edit(bot, session, record, message, to_student=False)


async def close_command(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    ticket: Ticket,
    db_user: User,
    helpdesk: HelpdeskService,
    i18n: I18n,
) -> None:
    await student_closes(bot, session, ticket, db_user, helpdesk)
    await message.answer(
        _("Request #{id} is closed.").format(id=ticket.id), reply_markup=main_menu()
    )
    await message.answer(rating_prompt(), reply_markup=rating_keyboard(ticket.id))


async def close_button(
    callback: CallbackQuery,
    callback_data: CloseTicketCallback,
    bot: Bot,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    i18n: I18n,
) -> None:
    ticket = await helpdesk.get(session, callback_data.ticket_id)
    if ticket is None or ticket.user_id != db_user.id or ticket.status != TicketStatus.OPEN.value:
        await callback.answer(_("This request is already closed."))
        return
    await student_closes(bot, session, ticket, db_user, helpdesk)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(
            _("Request #{id} is closed.").format(id=ticket.id), reply_markup=main_menu()
        )
        await callback.message.answer(rating_prompt(), reply_markup=rating_keyboard(ticket.id))


# Rating --------------------------------------------------------------------------------------
async def _own_closed_ticket(
    helpdesk: HelpdeskService, session: AsyncSession, user: User, ticket_id: int
) -> Ticket | None:
    """The ticket a rating button refers to, if it is this student's and closed."""
    ticket = await helpdesk.get(session, ticket_id)
    if ticket is None or ticket.user_id != user.id or ticket.status != TicketStatus.CLOSED.value:
        return None
    return ticket


async def rated(
    callback: CallbackQuery,
    callback_data: RateCallback,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    ticket = await _own_closed_ticket(helpdesk, session, db_user, callback_data.ticket_id)
    if ticket is None or not 0 <= callback_data.score <= 5:
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    if callback_data.score == 0:  # "skip the comment"
        # Only the comment step is left: an old Skip button must not end another wizard.
        if await state.get_state() == RatingForm.comment.state:
            await state.clear()
        if isinstance(callback.message, Message):
            await edit_or_send(callback.message, _("Thank you for your feedback!"))
        return
    # The FSM is left alone: what the student sends next is answered as usual. A comment is
    # taken only after they press «Add a comment» (comment_requested).
    await helpdesk.rate(session, ticket, callback_data.score)
    if isinstance(callback.message, Message):
        await edit_or_send(
            callback.message,
            _(
                "Thank you! Your rating: {score} of 5. To add a comment for the Helpdesk, "
                "press the button below."
            ).format(score=callback_data.score),
            reply_markup=comment_keyboard(ticket.id),
        )
    with use_locale(helpdesk.i18n, helpdesk.staff_language):
        await helpdesk.notify_staff(
            bot,
            ticket,
            _("⭐ Ticket #{id} was rated {score} of 5.").format(
                id=ticket.id, score=callback_data.score
            ),
        )


async def comment_requested(
    callback: CallbackQuery,
    callback_data: CommentCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    ticket = await _own_closed_ticket(helpdesk, session, db_user, callback_data.ticket_id)
    if ticket is None or ticket.rating is None:
        await callback.answer(_("This button is no longer active."))
        return
    current = await state.get_state()
    if current is not None and current != RatingForm.comment.state:
        # In the middle of something else (an application): do not throw those answers away.
        await callback.answer(
            _("Please answer the question above, or send /cancel to stop."), show_alert=True
        )
        return
    await callback.answer()
    await state.set_state(RatingForm.comment)
    await state.update_data(ticket_id=ticket.id)
    if isinstance(callback.message, Message):
        await edit_or_send(
            callback.message,
            _("Write your comment in one message. Changed your mind? Press Skip or send /cancel."),
            reply_markup=skip_keyboard(ticket.id),
        )


async def rating_comment(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    data = await state.get_data()
    await state.clear()
    ticket = await helpdesk.get(session, int(data.get("ticket_id") or 0))
    if ticket is None or ticket.user_id != db_user.id:
        return
    ticket.rating_comment = (message.text or "")[:2000]
    await session.flush()
    await message.answer(_("Thank you for your feedback!"), reply_markup=main_menu())
    with use_locale(helpdesk.i18n, helpdesk.staff_language):
        await helpdesk.notify_staff(
            bot,
            ticket,
            _("💬 Comment on ticket #{id}: {comment}").format(
                id=ticket.id, comment=html.escape(ticket.rating_comment)
            ),
        )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.edited_message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")

    # An open ticket: what the student types outside a wizard goes to the person on it;
    # commands and the other menu buttons fall through to their routers and keep working.
    router.message.register(already_open, OpenTicket(), Command("human"))
    router.message.register(already_open, OpenTicket(), F.text == MENU_HUMAN)
    router.message.register(already_open, OpenTicket(), F.text == MENU_ASK)
    router.message.register(close_command, OpenTicket(), Command("close"))
    router.message.register(
        relay, OpenTicket(), StateFilter(None), ~F.text.startswith("/"), not_menu_item
    )
    router.edited_message.register(relay_edit, OpenTicket())

    router.message.register(human_command, Command("human"))
    router.message.register(human_command, F.text == MENU_HUMAN)
    router.callback_query.register(ask_person_button, AskPersonCallback.filter())
    router.callback_query.register(topic_chosen, HelpdeskForm.topic, TopicCallback.filter())
    router.message.register(topic_expected, HelpdeskForm.topic)
    router.message.register(question_expected, HelpdeskForm.question, is_menu_item)
    router.message.register(question_received, HelpdeskForm.question)
    router.message.register(
        rating_comment, RatingForm.comment, F.text, ~F.text.startswith("/"), not_menu_item
    )
    router.callback_query.register(close_button, CloseTicketCallback.filter())
    router.callback_query.register(rated, RateCallback.filter())
    router.callback_query.register(comment_requested, CommentCallback.filter())
    return router
