"""/start, /help, /language, /cancel and the main-menu entries that belong to no other area."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Role, User
from bot.edits import edit_or_send
from bot.menu import MENU_ASK, MENU_LANGUAGE, LanguageCallback, language_keyboard, main_menu
from bot.services.applications import ApplicationService
from bot.services.helpdesk import HelpdeskService
from bot.services.users import UserRepository


def help_text() -> str:
    return _(
        "I answer questions about Regulation No. 066 on distance learning and the online "
        "form of study, citing the clause each answer rests on.\n\n"
        "Just type your question, in Kazakh, Russian or English.\n\n"
        "/rules — browse the regulation\n"
        "/apply — apply for distance learning or the online form\n"
        "/myapplications — your applications and their status\n"
        "/reminders — deadline and orientation-week reminders\n"
        "/human — ask a person from the helpdesk\n"
        "/language — change the language\n"
        "/cancel — leave what you are doing\n"
        "/mydata — everything stored about you; /forget — delete it"
    )


async def open_ticket_note(
    message: Message, session: AsyncSession, db_user: User, helpdesk: HelpdeskService
) -> None:
    """While a request to the Helpdesk is open, say where typed text goes and how to leave."""
    ticket = await helpdesk.open_ticket_of(session, db_user.id)
    if ticket is not None:
        from handlers.helpdesk import close_keyboard, still_open_notice

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
    name = db_user.first_name or _("student")
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


def staff_help_text() -> str:
    return _(
        "For staff:\n"
        "/tickets — open helpdesk requests (in the staff chat); in a request's topic: "
        "/take, /close, /ban, /unban\n"
        "/calendar — the academic calendar for reminders\n"
        "/broadcast — a message to a group of students\n"
        "Applications are decided with the buttons under each card in the staff chat."
    ) + "\n" + _(  # issue 12
        "/unanswered — the questions I could not answer, grouped: answer each once for "
        "everyone\n/offices — the offices I send students to (admins edit them)"
    )


async def show_help(
    message: Message, db_user: User, session: AsyncSession, helpdesk: HelpdeskService
) -> None:
    text = help_text()
    if db_user.role in (Role.STAFF.value, Role.ADMIN.value):
        text += "\n\n" + staff_help_text()
    await message.answer(text, reply_markup=main_menu())
    await open_ticket_note(message, session, db_user, helpdesk)


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
            text = help_text() if first_choice else _("Done. I will write in English now.")
            await callback.message.answer(text, reply_markup=main_menu())
            if (await state.get_state() or "").startswith("ApplyForm:"):
                # The question above is in the old language: ask it again in the new one.
                from handlers.applications import apply_resume

                await apply_resume(callback.message, state, applications)


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
            from handlers.helpdesk import leave_ticket

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
        from handlers.helpdesk import already_open

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
    router.message.register(choose_language, Command("language"))
    router.message.register(choose_language, F.text == MENU_LANGUAGE)
    router.message.register(ask_prompt, StateFilter(None), F.text == MENU_ASK)
    router.callback_query.register(language_chosen, LanguageCallback.filter())
    return router
