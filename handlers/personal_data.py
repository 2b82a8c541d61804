"""/mydata sends everything stored about the user as JSON; /forget erases it after confirmation."""

from __future__ import annotations

import json
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import AppContext
from bot.db.models import User
from bot.edits import edit_or_send
from bot.services.personal_data import PersonalDataRegistry


class ForgetCallback(CallbackData, prefix="forget"):
    confirm: bool


class ForgetForm(StatesGroup):
    """Set by /forget: only a press answering that prompt may erase anything."""

    confirm = State()


async def my_data(
    message: Message,
    session: AsyncSession,
    db_user: User,
    app: AppContext,
    personal_data: PersonalDataRegistry,
) -> None:
    data: dict[str, Any] = await personal_data.collect(
        session, db_user.id, app.services.personal_data_providers()
    )
    payload = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    await message.answer_document(
        BufferedInputFile(payload, filename=f"mydata-{db_user.id}.json"),
        caption=_("Everything stored about you. /forget deletes it."),
    )


async def forget_ask(message: Message, state: FSMContext) -> None:
    await state.set_state(ForgetForm.confirm)
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🗑 Yes, delete my data"), callback_data=ForgetCallback(confirm=True))
    kb.button(text=_("Keep my data"), callback_data=ForgetCallback(confirm=False))
    kb.adjust(1)
    await message.answer(
        _(
            "This deletes everything stored about you: your profile, language, unfinished "
            "dialogs and your applications. Applications the office is still reviewing are "
            "kept without your name, ID and phone. This cannot be undone. Continue?"
        ),
        reply_markup=kb.as_markup(),
    )


async def forget_answer(
    callback: CallbackQuery,
    callback_data: ForgetCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    app: AppContext,
    personal_data: PersonalDataRegistry,
) -> None:
    message = callback.message if isinstance(callback.message, Message) else None
    if await state.get_state() != ForgetForm.confirm.state:
        # A forged, replayed or stale button: /forget was not just asked, so nothing is erased.
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    if not callback_data.confirm:
        await state.clear()
        if message is not None:
            await edit_or_send(message, _("Nothing was deleted."))
        return
    # The wizard ends in the same commit as what follows.
    await state.clear()
    await personal_data.erase(session, db_user.id, app.services.personal_data_providers())
    await session.commit()
    if message is not None:
        await edit_or_send(
            message,
            _("Your data is deleted. If you write again, I will start from a clean slate."),
        )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(my_data, Command("mydata"))
    router.message.register(forget_ask, Command("forget"))
    router.callback_query.register(forget_answer, ForgetCallback.filter())
    return router
