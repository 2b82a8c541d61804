"""The catch-all: whatever no other router took gets a short, localized answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.db.models import Role, User
from bot.menu import COMMANDS_BY_NAME, main_menu, may_use

MAX_TEXT = 4096


async def unknown_command(message: Message, db_user: User | None = None) -> None:
    name = (message.text or "/").split()[0].split("@")[0].lstrip("/").lower()
    info = COMMANDS_BY_NAME.get(name)
    # A curator not yet granted the role learns why /broadcast does nothing; staff tools stay
    # unknown to everyone else (their names and existence are the staff's business).
    if (
        info is not None
        and info.role is Role.CURATOR
        and db_user is not None
        and not may_use(db_user.role, info)
    ):
        await message.answer(
            _("/{command} is for curators and staff. Send /help to see yours.").format(
                command=name
            )
        )
        return
    await message.answer(_("I don't know this command. Send /help to see what I can do."))


async def too_long(message: Message) -> None:
    await message.answer(_("Your message is very long. Please ask one short question at a time."))


async def not_understood(message: Message) -> None:
    await message.answer(
        _("I did not understand that. Type a question or pick an item from the menu."),
        reply_markup=main_menu(),
    )


async def in_wizard_unexpected(message: Message) -> None:
    await message.answer(_("Please answer the question above, or send /cancel to stop."))


async def non_text(message: Message) -> None:
    await message.answer(_("I can only read text messages here. Please type your question."))


async def edited(message: Message) -> None:
    await message.answer(
        _("I only read new messages. Please send your corrected text as a new message.")
    )


async def stale_callback(callback: CallbackQuery) -> None:
    await callback.answer(_("This button is no longer active."), show_alert=False)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.edited_message.filter(F.chat.type == "private")
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(too_long, F.text.len() >= MAX_TEXT)
    router.message.register(in_wizard_unexpected, ~StateFilter(None))
    router.message.register(not_understood, F.text)
    router.message.register(non_text)
    router.edited_message.register(edited)
    router.callback_query.register(stale_callback)
    return router
