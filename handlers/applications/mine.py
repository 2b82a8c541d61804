"""/myapplications: the applicant's applications and their history, answering the office's
request for more information, and copies of a statement in another language."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot import menu
from bot.config import LANGUAGES, Settings
from bot.db.models import User
from bot.db.models.applications import ApplicationStatus
from bot.flows.applications import send_statement, upload_of
from bot.notifications.applications import send_to_staff
from bot.services import validators as v
from bot.services.applications import ApplicationService
from bot.views.application_texts import error_text, history_lines, kind_label, status_label
from bot.views.applications import ApplyCallback, StatementCallback, answer_keyboard


class ReplyForm(StatesGroup):
    """The applicant answers a "more information" request."""

    waiting = State()


async def statement_copy(
    callback: CallbackQuery,
    callback_data: StatementCallback,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
) -> None:
    app = await applications.get(session, callback_data.id)
    if app is None or app.user_id != db_user.id or callback_data.lang not in LANGUAGES:
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    message = callback.message if isinstance(callback.message, Message) else None
    if message is None:
        return
    local = app.created_at.astimezone(settings.tz)
    await send_statement(
        message, app, applications.direction(app.programme_code), local, callback_data.lang
    )


async def my_applications(
    message: Message,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
) -> None:
    apps = await applications.for_user(session, db_user.id)
    if not apps:
        await message.answer(_("You have no applications yet. /apply starts one."))
        return
    blocks = [_("<b>Your applications</b>")]
    for app in apps:
        block = [
            f"\n<b>{app.reference}</b> — {kind_label(app.kind)}, "
            f"{html.escape(app.programme_code or '')}",
            _("Status: <b>{status}</b>").format(status=status_label(app.status)),
            _("History:"),
            *history_lines(app, settings),
        ]
        blocks.append("\n".join(block))
    waiting = [a for a in apps if a.status == ApplicationStatus.NEEDS_INFO.value]
    markup = answer_keyboard(waiting)
    # The newest applications matter most: keep the tail when the list is long.
    text = "\n".join(blocks)
    if len(text) > 4000:
        text = blocks[0] + "\n…" + text[-3900:]
    await message.answer(text, reply_markup=markup)


async def reply_start(
    callback: CallbackQuery,
    callback_data: ApplyCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
) -> None:
    app = await applications.get(session, int(callback_data.value or 0))
    if (
        app is None
        or app.user_id != db_user.id
        or app.status != ApplicationStatus.NEEDS_INFO.value
    ):
        await callback.answer(_("This button is no longer active."))
        return
    await callback.answer()
    await state.set_state(ReplyForm.waiting)
    await state.set_data({"app_id": app.id})
    if isinstance(callback.message, Message):
        message = callback.message
        await message.answer(
            _("Send your answer for {reference}: a text, a photo or a PDF file.").format(
                reference=app.reference
            )
        )


async def reply_received(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    settings: Settings,
    bot: Bot,
) -> None:
    data = await state.get_data()
    app = await applications.get(session, int(data.get("app_id") or 0))
    await state.clear()
    if (
        app is None
        or app.user_id != db_user.id
        or app.status != ApplicationStatus.NEEDS_INFO.value
    ):
        await message.answer(_("This application is no longer waiting for information."))
        return
    upload = upload_of(message)
    if upload is not None:
        try:
            v.check_upload(upload)
        except v.Invalid as exc:
            await message.answer(error_text(exc))
            return
    text = (message.text or message.caption or "").strip()[:2000] or None
    await applications.add_reply(
        session,
        app,
        actor_id=db_user.id,
        comment=text,
        file_id=upload.file_id if upload else None,
        file_name=upload.file_name if upload else None,
        file_kind=upload.kind if upload else None,
    )
    await session.commit()
    await message.answer(
        _("Thank you. {reference} is back under review.").format(reference=app.reference)
    )
    await send_to_staff(
        bot,
        settings,
        app,
        docx=None,
        direction=applications.direction(app.programme_code),
        reply_text=text,
        reply_upload=upload,
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(my_applications, Command("myapplications"))
    router.callback_query.register(reply_start, ApplyCallback.filter(F.action == "reply"))
    router.callback_query.register(statement_copy, StatementCallback.filter())
    router.message.register(
        reply_received,
        StateFilter(ReplyForm.waiting),
        F.text | F.photo | F.document,
        menu.not_menu_item,
    )
    return router
