"""Opening and leaving a helpdesk request, from wherever the student asks for it (/human, «Ask a
person» under an answer or in the application wizard, /cancel with an open request)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.db.models.helpdesk import Ticket, TicketTopic
from bot.i18n import use_locale
from bot.menu import main_menu
from bot.services.helpdesk import HelpdeskService
from bot.states import HelpdeskForm
from bot.views.helpdesk import (
    already_open_notice,
    close_keyboard,
    rating_keyboard,
    rating_prompt,
    topic_keyboard,
)


async def begin_request(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    question_id: int = 0,
    *,
    topic: TicketTopic | None = None,
    attachment: str | None = None,
) -> None:
    """Start a request: ask its topic, then the question. With ``topic`` the topic is known;
    ``attachment`` (HTML, in the staff language) is posted in the ticket after the question."""
    if await helpdesk.is_banned(session, db_user.id):
        await message.answer(_("You cannot open helpdesk requests."))
        return
    if helpdesk.staff_chat_id is None:
        await message.answer(_("The helpdesk is not connected yet. Please try again later."))
        return
    ticket = await helpdesk.open_ticket_of(session, db_user.id)
    if ticket is not None:
        await message.answer(
            _("Your request #{id} is already open. Just write here: a person will answer.").format(
                id=ticket.id
            ),
            reply_markup=close_keyboard(ticket.id),
        )
        return
    await state.clear()  # leaves any wizard the student was in
    if topic is not None:
        await state.set_state(HelpdeskForm.question)
        await state.update_data(question_id=question_id, topic=topic.value, attachment=attachment)
        await message.answer(
            _(
                "Write your question for the office in one message. Your application was not "
                "submitted; the answers you have given so far go with your question, so you "
                "need not repeat them."
            )
        )
        return
    await state.set_state(HelpdeskForm.topic)
    await state.update_data(question_id=question_id)
    await message.answer(
        _("I will pass your question to a person from the Helpdesk. What is it about?"),
        reply_markup=topic_keyboard(),
    )


async def already_open(message: Message, ticket: Ticket) -> None:
    await message.answer(already_open_notice(ticket), reply_markup=close_keyboard(ticket.id))


async def student_closes(
    bot: Bot,
    session: AsyncSession,
    ticket: Ticket,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    await helpdesk.close(session, ticket, db_user.id, bot=bot)
    with use_locale(helpdesk.i18n, helpdesk.staff_language):
        await helpdesk.notify_staff(
            bot, ticket, _("🔒 The student closed ticket #{id}.").format(id=ticket.id)
        )


async def leave_ticket(
    message: Message, bot: Bot, session: AsyncSession, ticket: Ticket, helpdesk: HelpdeskService
) -> None:
    """/cancel with nothing else to cancel: the student leaves the open request."""
    user = await session.get(User, ticket.user_id)
    assert user is not None
    await student_closes(bot, session, ticket, user, helpdesk)
    await message.answer(
        _(
            "You left request #{id}; the Helpdesk was told. I answer your questions again, "
            "and /human opens a new request."
        ).format(id=ticket.id),
        reply_markup=main_menu(),
    )
    if ticket.first_response_at is not None:  # someone answered: their help can be rated
        await message.answer(rating_prompt(), reply_markup=rating_keyboard(ticket.id))
