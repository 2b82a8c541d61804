"""/start, /help, /language, /cancel and the main-menu entries that belong to no other area."""

from __future__ import annotations

import html
import re

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role, User
from bot.edits import edit_or_send
from bot.filters import OpenTicket, RoleFilter
from bot.flows.applications import resume
from bot.flows.helpdesk import already_open, leave_ticket
from bot.menu import (
    COMMANDS,
    MENU_ASK,
    MENU_LANGUAGE,
    LanguageCallback,
    language_keyboard,
    main_menu,
    registered_commands,
    role_help,
)
from bot.services.applications import ApplicationService
from bot.services.helpdesk import HelpdeskService
from bot.services.users import UserRepository
from bot.views.helpdesk import close_keyboard, still_open_notice


def help_text(role: str, available: frozenset[str] | None = None) -> str:
    """What the bot does and the commands of the reader's role (those that exist)."""
    return (
        _(
            "I answer questions about Regulation No. 066 on distance learning and the online "
            "form of study, citing the clause each answer rests on.\n\n"
            "Just type your question, in Kazakh, Russian or English."
        )
        + "\n\n"
        + role_help(role, available)
    )


def introduction(role: str, available: frozenset[str] | None = None) -> str:
    """The answer to "Who are you?"."""
    return (
        _(
            "I am the student assistant of Kh. Dosmukhamedov Atyrau University: a program, not "
            "a person. I answer questions about Regulation No. 066 on distance learning and the "
            "online form of study and cite the clause each answer rests on; I tell applicants "
            "whether a programme may be studied online; I help you fill in an application and "
            "follow it; I remind you of deadlines; and when I cannot help, /human passes you to "
            "a person from the Helpdesk."
        )
        + "\n\n"
        + role_help(role, available)
    )


# "Who are you?" and the like, as whole messages (lower case, words only).
WHO_ARE_YOU = re.compile(
    r"^(?:"
    r"(?:and )?who (?:are|r) (?:you|u)|what (?:are|r) (?:you|u)|who is this|what is this bot|"
    r"what can you do|introduce yourself|are you a (?:bot|robot|human|person)|"
    r"(?:а )?(?:кто|что) (?:ты|вы)(?: такой| такая| такое| такие)?|"
    r"(?:ты|вы) кто(?: такой| такие)?|"
    r"что (?:ты|вы) умеешь|что (?:ты|вы) умеете|что умеешь|что это за бот|представься|"
    r"представьтесь|(?:ты|вы) бот|(?:ты|вы) робот|"
    r"(?:сен|сіз) кімсің|(?:сен|сіз) кімсіз|кімсің|кімсіз|сен кім|сіз кім|кім сен|кім сіз|"
    r"(?:сен|сіз) не істей аласың|(?:сен|сіз) не істей аласыз|не істей аласың|не істей аласыз|"
    r"(?:сен|сіз) ботсың ба|(?:сен|сіз) ботсыз ба|(?:сен|сіз) бот па"
    r")$"
)


def asks_who_i_am(message: Message) -> bool:
    words = " ".join(re.findall(r"\w+", (message.text or "").lower()))
    return bool(WHO_ARE_YOU.match(words))


async def open_ticket_note(
    message: Message, session: AsyncSession, db_user: User, helpdesk: HelpdeskService
) -> None:
    """While a request to the Helpdesk is open, say where typed text goes and how to leave."""
    ticket = await helpdesk.open_ticket_of(session, db_user.id)
    if ticket is not None:
        await message.answer(still_open_notice(ticket), reply_markup=close_keyboard(ticket.id))


async def start(
    message: Message,
    db_user: User,
    state: FSMContext,
    session: AsyncSession,
    helpdesk: HelpdeskService,
) -> None:
    # /start leaves any wizard; say so when that throws away a half-filled application.
    dropped = (await state.get_state() or "").startswith("ApplyForm:") and bool(
        (await state.get_data()).get("done")
    )
    await state.clear()
    name = html.escape(db_user.first_name or "", quote=False) or _("student")
    note = (
        "\n\n" + _("Your unfinished application was not kept; /apply starts a new one.")
        if dropped
        else ""
    )
    if db_user.language is None:
        await message.answer(
            _(
                "Hello, {name}! I am the student assistant of Kh. Dosmukhamedov Atyrau "
                "University.\nChoose your language:"
            ).format(name=name)
            + note,
            reply_markup=language_keyboard(),
        )
        await open_ticket_note(message, session, db_user, helpdesk)
        return
    await message.answer(
        _("Hello, {name}! Ask me about distance learning and the online form of study.").format(
            name=name
        )
        + note,
        reply_markup=main_menu(),
    )
    await open_ticket_note(message, session, db_user, helpdesk)


async def show_help(
    message: Message,
    db_user: User,
    session: AsyncSession,
    helpdesk: HelpdeskService,
    dispatcher: Dispatcher,
) -> None:
    text = help_text(db_user.role, registered_commands(dispatcher))
    await message.answer(text, reply_markup=main_menu())
    await open_ticket_note(message, session, db_user, helpdesk)


async def introduce(message: Message, db_user: User, dispatcher: Dispatcher) -> None:
    await message.answer(
        introduction(db_user.role, registered_commands(dispatcher)), reply_markup=main_menu()
    )


async def staff_chat_command(message: Message, settings: Settings) -> None:
    """A staff-chat command (/tickets, /take …) sent to the bot in private: say where it works."""
    command = (message.text or "/").split()[0].split("@")[0]
    if settings.staff_chat_id is None:
        where = _("STAFF_CHAT_ID is not set yet, so there is no staff chat to use it in.")
    else:
        where = _("Helpdesk requests are answered there, each in its own topic.")
    await message.answer(
        _("{command} works in the staff chat (the Helpdesk group), not here.").format(
            command=html.escape(command)
        )
        + " "
        + where
    )


async def choose_language(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


async def language_chosen(
    callback: CallbackQuery,
    callback_data: LanguageCallback,
    db_user: User,
    session: AsyncSession,
    i18n: I18n,
    state: FSMContext,
    applications: ApplicationService,
    dispatcher: Dispatcher,
) -> None:
    if callback_data.code not in i18n.available_locales:
        await callback.answer(_("This language is not available."), show_alert=True)
        return
    first_choice = db_user.language is None
    # The choice is stored before anything is shown: a failed edit must not lose it.
    await UserRepository(session).set_language(db_user, callback_data.code)
    await session.commit()
    with i18n.use_locale(callback_data.code):
        await callback.answer()
        if isinstance(callback.message, Message):
            await edit_or_send(callback.message, _("Language: English"))
            text = (
                help_text(db_user.role, registered_commands(dispatcher))
                if first_choice
                else _("Done. I will write in English now.")
            )
            await callback.message.answer(text, reply_markup=main_menu())
            if (await state.get_state() or "").startswith("ApplyForm:"):
                # The question above is in the old language: ask it again in the new one.
                await resume(callback.message, state, applications)


async def cancel(
    message: Message,
    bot: Bot,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    helpdesk: HelpdeskService,
) -> None:
    """/cancel leaves the wizard in hand; with none, it leaves an open Helpdesk request."""
    ticket = await helpdesk.open_ticket_of(session, db_user.id)
    if await state.get_state() is None:
        if ticket is not None:
            await leave_ticket(message, bot, session, ticket, helpdesk)
            return
        await message.answer(_("There is nothing to cancel."), reply_markup=main_menu())
        return
    await state.clear()
    await message.answer(_("Cancelled. What would you like to do?"), reply_markup=main_menu())
    await open_ticket_note(message, session, db_user, helpdesk)


async def ask_prompt(
    message: Message, session: AsyncSession, db_user: User, helpdesk: HelpdeskService
) -> None:
    ticket = await helpdesk.open_ticket_of(session, db_user.id)
    if ticket is not None:  # what they type next goes to a person, not to the bot
        await already_open(message, ticket)
        return
    await message.answer(
        _("Type your question in your own words, for example: «Can I study law online?»")
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(cancel, Command("cancel"))
    # Invite links (/start join_CODE) belong to the curator groups' router.
    router.message.register(start, CommandStart(), ~F.text.regexp(r"^/start(@\w+)?\s+join_"))
    router.message.register(show_help, Command("help"))
    router.message.register(
        staff_chat_command,
        Command(*(c.name for c in COMMANDS if c.staff_chat and c.name != "close")),
        RoleFilter(Role.STAFF),
    )
    router.message.register(introduce, StateFilter(None), asks_who_i_am, ~OpenTicket())
    router.message.register(choose_language, Command("language"))
    router.message.register(choose_language, F.text == MENU_LANGUAGE)
    router.message.register(ask_prompt, StateFilter(None), F.text == MENU_ASK)
    router.callback_query.register(language_chosen, LanguageCallback.filter())
    return router
