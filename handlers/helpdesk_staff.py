"""Staff side of the helpdesk: answers and commands in the staff chat (STAFF_CHAT_ID).

A message belongs to a ticket through its forum topic, or, in a chat without topics, through
the bot message it replies to. Only users with the staff or admin role act; anyone else in the
chat is ignored (a command gets a one-line refusal).
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role, User
from bot.db.models.helpdesk import Direction, Ticket, TicketStatus, TicketTopic
from bot.filters import RoleFilter
from bot.menu import main_menu
from bot.notifications.notify import Notifier
from bot.services.helpdesk import TOPIC_LABELS, HelpdeskService, display_name, format_age
from bot.views.helpdesk import rating_keyboard, rating_prompt

log = logging.getLogger(__name__)
STAFF_COMMANDS = ("take", "close", "ban", "unban", "tickets")
# What staff may send to a student (service messages such as "topic created" are not relayed).
RELAYED = {
    "text",
    "photo",
    "document",
    "voice",
    "video",
    "audio",
    "animation",
    "sticker",
    "video_note",
    "location",
    "contact",
}


def not_a_command(message: Message) -> bool:
    return not (message.text or "").startswith("/")


async def in_staff_chat(event: TelegramObject, settings: Settings) -> bool:
    chat = getattr(event, "chat", None)
    return (
        chat is not None
        and settings.staff_chat_id is not None
        and chat.id == settings.staff_chat_id
    )


async def ticket_of(
    message: Message,
    session: AsyncSession,
    helpdesk: HelpdeskService,
    command: CommandObject | None = None,
) -> Ticket | None:
    """The ticket a staff message is about: ``/cmd 12``, its topic, or the message replied to."""
    if command is not None and command.args and command.args.strip().lstrip("#").isdigit():
        return await helpdesk.get(session, int(command.args.strip().lstrip("#")))
    if message.is_topic_message and message.message_thread_id is not None:
        ticket = await helpdesk.by_thread(session, message.chat.id, message.message_thread_id)
        if ticket is not None:
            return ticket
    if message.reply_to_message is not None:
        found = await helpdesk.by_staff_message(
            session, message.chat.id, message.reply_to_message.message_id
        )
        if found is not None:
            return found[0]
    return None


async def _student(session: AsyncSession, ticket: Ticket) -> User | None:
    return await session.get(User, ticket.user_id)


async def _recipient(session: AsyncSession, ticket: Ticket) -> User | int:
    """The student, for a notice in their language now (they may have switched since opening
    the ticket; ``ticket.language`` when they have no stored choice)."""
    student = await _student(session, ticket)
    return student if student is not None else ticket.user_id


# Relay -----------------------------------------------------------------------------------------
async def staff_message(
    message: Message, bot: Bot, session: AsyncSession, db_user: User, helpdesk: HelpdeskService
) -> None:
    ticket = await ticket_of(message, session, helpdesk)
    if ticket is None:
        return  # general chatter in the staff chat
    if ticket.status != TicketStatus.OPEN.value:
        await message.reply(
            _("Ticket #{id} is closed; the student does not receive this.").format(id=ticket.id)
        )
        return
    await helpdesk.relay_from_staff(bot, session, ticket, message, db_user)


async def staff_edit(
    message: Message, bot: Bot, session: AsyncSession, helpdesk: HelpdeskService
) -> None:
    found = await helpdesk.by_staff_message(session, message.chat.id, message.message_id)
    if found is None or found[1] is None or found[1].direction != Direction.FROM_STAFF.value:
        return
    await helpdesk.mirror_edit(bot, session, found[1], message, to_student=True)


# Commands --------------------------------------------------------------------------------------
async def take(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    notifier: Notifier,
) -> None:
    ticket = await ticket_of(message, session, helpdesk, command)
    if ticket is None or ticket.status != TicketStatus.OPEN.value:
        await message.reply(_("No open ticket here. Use the command in a ticket's topic."))
        return
    await helpdesk.assign(session, ticket, db_user)
    await message.reply(
        _("Ticket #{id} is assigned to {name}.").format(
            id=ticket.id, name=html.escape(display_name(db_user, db_user.id))
        )
    )
    await notifier.notify(
        bot,
        await _recipient(session, ticket),
        lambda: _("{name} from the Helpdesk is working on your request #{id}.").format(
            name=html.escape(db_user.first_name or _("A specialist")), id=ticket.id
        ),
        language=ticket.language,
        what=f"ticket {ticket.id}: taken notice",
    )


async def close(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    notifier: Notifier,
) -> None:
    ticket = await ticket_of(message, session, helpdesk, command)
    if ticket is None or ticket.status != TicketStatus.OPEN.value:
        await message.reply(_("No open ticket here. Use the command in a ticket's topic."))
        return
    await helpdesk.close(session, ticket, db_user.id, bot=bot)
    await message.reply(
        _("Ticket #{id} is closed. The student was asked to rate the answer.").format(id=ticket.id)
    )
    student = await _recipient(session, ticket)
    closed = await notifier.notify(
        bot,
        student,
        lambda: _(
            "The Helpdesk has closed your request #{id}. If you need more help, send /human."
        ).format(id=ticket.id),
        language=ticket.language,
        reply_markup=main_menu,
        what=f"ticket {ticket.id}: closed notice",
    )
    if closed.delivered:
        await notifier.notify(
            bot,
            student,
            rating_prompt,
            language=ticket.language,
            reply_markup=lambda: rating_keyboard(ticket.id),
            what=f"ticket {ticket.id}: rating prompt",
        )


async def ban(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
    notifier: Notifier,
) -> None:
    ticket = await ticket_of(message, session, helpdesk, command)
    if ticket is None:
        await message.reply(_("No ticket here. Use the command in a ticket's topic."))
        return
    student = await _student(session, ticket)
    if student is not None and student.role_enum.rank >= Role.STAFF.rank:
        await message.reply(_("Staff members cannot be banned."))
        return
    await helpdesk.ban(session, ticket.user_id, db_user.id, ticket.id)
    was_open = ticket.status == TicketStatus.OPEN.value
    if was_open:
        await helpdesk.close(session, ticket, db_user.id, bot=bot)
    await message.reply(
        _("{name} can no longer open helpdesk requests. /unban undoes this.").format(
            name=html.escape(display_name(student, ticket.user_id))
        )
    )
    if was_open:
        await notifier.notify(
            bot,
            await _recipient(session, ticket),
            lambda: _("The Helpdesk has closed this conversation."),
            language=ticket.language,
            what=f"ticket {ticket.id}: ban notice",
        )


async def unban(
    message: Message, command: CommandObject, session: AsyncSession, helpdesk: HelpdeskService
) -> None:
    ticket = await ticket_of(message, session, helpdesk, command)
    if ticket is None:
        await message.reply(_("No ticket here. Use the command in a ticket's topic."))
        return
    student = await _student(session, ticket)
    name = html.escape(display_name(student, ticket.user_id))
    if await helpdesk.unban(session, ticket.user_id):
        await message.reply(_("{name} can open helpdesk requests again.").format(name=name))
    else:
        await message.reply(_("{name} was not banned.").format(name=name))


async def list_tickets(message: Message, session: AsyncSession, helpdesk: HelpdeskService) -> None:
    tickets = await helpdesk.open_tickets_with_people(session)
    if not tickets:
        await message.reply(_("No open tickets."))
        return
    now = helpdesk.now()
    lines = [_("Open tickets: {n}").format(n=len(tickets))]
    for t, student, assignee in tickets:
        lines.append(
            _("#{id} · {student} · {topic} · {age} · {assignee}").format(
                id=t.id,
                student=html.escape(display_name(student, t.user_id)),
                topic=str(TOPIC_LABELS[TicketTopic(t.topic)]),
                age=format_age(now - t.created_at),
                assignee=html.escape(display_name(assignee, 0)) if assignee else _("unassigned"),
            )
            + (" ⏰" if t.waiting_since is not None else "")
        )
    await message.reply("\n".join(lines))


async def not_staff(message: Message) -> None:
    await message.reply(_("Only Helpdesk staff can use these commands."))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(in_staff_chat)
    router.edited_message.filter(in_staff_chat)
    staff = RoleFilter(Role.STAFF)
    router.message.register(take, staff, Command("take"))
    router.message.register(close, staff, Command("close"))
    router.message.register(ban, staff, Command("ban"))
    router.message.register(unban, staff, Command("unban"))
    router.message.register(list_tickets, staff, Command("tickets"))
    router.message.register(not_staff, Command(*STAFF_COMMANDS))
    router.message.register(
        staff_message, staff, F.content_type.in_(RELAYED), F.func(not_a_command)
    )
    router.edited_message.register(staff_edit, staff)
    return router
