"""Staff decisions on applications in the staff chat: approve, reject, ask for more.

Every press is checked against the presser's stored role (staff or admin) and against the
application's version (its number of history events), so a forged button, a press by anyone
else, or a replayed old button is refused and logged.
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role, User
from bot.db.models.applications import ApplicationStatus
from bot.filters import has_role
from bot.notifications.applications import notify_applicant
from bot.notifications.notify import Notifier
from bot.services.applications import ApplicationService, StaleAction
from bot.views.application_texts import status_label
from bot.views.applications import DecisionCallback

log = logging.getLogger(__name__)

ACTIONS = {
    "approve": ApplicationStatus.APPROVED,
    "reject": ApplicationStatus.REJECTED,
    "more": ApplicationStatus.NEEDS_INFO,
}


class StaffComment(StatesGroup):
    waiting = State()


def _who(callback: CallbackQuery) -> str:
    user = callback.from_user
    return f"{user.id} (@{user.username or '-'})"


async def on_decision(
    callback: CallbackQuery,
    callback_data: DecisionCallback,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    notifier: Notifier,
    bot: Bot,
) -> None:
    if not has_role(db_user, Role.STAFF):
        log.warning(
            "refused application decision %s on #%s by unauthorised user %s",
            callback_data.action,
            callback_data.id,
            _who(callback),
        )
        await callback.answer(_("Only helpdesk staff can decide applications."), show_alert=True)
        return
    status = ACTIONS.get(callback_data.action)
    app = await applications.get(session, callback_data.id)
    if status is None or app is None:
        log.warning("refused forged application button %r from %s", callback.data, _who(callback))
        await callback.answer(_("This button is not valid."), show_alert=True)
        return
    if not app.status_enum.under_review or len(app.events) != callback_data.v:
        log.warning(
            "refused replayed button %r from %s (now %s)",
            callback.data,
            _who(callback),
            app.status,
        )
        if app.status_enum.under_review:
            text = _(
                "This card is out of date: {reference} has changed since. Use its newest card."
            ).format(reference=app.reference)
        else:
            text = _("{reference} was already handled: {status}.").format(
                reference=app.reference, status=status_label(app.status)
            )
        await callback.answer(text, show_alert=True)
        return
    message = callback.message if isinstance(callback.message, Message) else None
    if status is ApplicationStatus.APPROVED:
        try:
            await applications.change_status(
                session, app.id, status, actor_id=db_user.id, version=callback_data.v
            )
        except StaleAction:
            await callback.answer(_("This button is no longer active."), show_alert=True)
            return
        await session.commit()
        await callback.answer(_("Approved."))
        if message is not None:
            await message.edit_reply_markup(reply_markup=None)
            await message.answer(
                _("{reference}: approved by {name}.").format(
                    reference=app.reference, name=html.escape(db_user.full_name)
                )
            )
        await notify_applicant(bot, session, app, notifier, None)
        return
    await callback.answer()
    await state.set_state(StaffComment.waiting)
    await state.set_data(
        {
            "id": app.id,
            "action": callback_data.action,
            "v": callback_data.v,
            "card": message.message_id if message is not None else None,
        }
    )
    if message is not None:
        prompt = (
            _("Write the reason for rejecting {reference} (the applicant will see it):")
            if status is ApplicationStatus.REJECTED
            else _("Write what else is needed for {reference} (the applicant will see it):")
        )
        await message.answer(
            prompt.format(reference=app.reference), reply_markup=ForceReply(selective=True)
        )


async def on_comment(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    db_user: User,
    applications: ApplicationService,
    notifier: Notifier,
    bot: Bot,
) -> None:
    data = await state.get_data()
    await state.clear()
    if not has_role(db_user, Role.STAFF):
        log.warning("refused application comment by unauthorised user %s", db_user.id)
        return
    status = ACTIONS.get(str(data.get("action")))
    comment = (message.text or "").strip()[:2000]
    if status is None or not comment:
        return
    try:
        app = await applications.change_status(
            session,
            int(data["id"]),
            status,
            actor_id=db_user.id,
            version=int(data["v"]),
            comment=comment,
        )
    except StaleAction as exc:
        await message.answer(_("{reference} was already handled.").format(reference=str(exc)))
        return
    await session.commit()
    if data.get("card"):
        try:
            await bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=int(data["card"]), reply_markup=None
            )
        except TelegramAPIError as exc:
            log.info("could not remove the buttons of %s's card: %s", app.reference, exc)
    await message.answer(
        _("{reference}: {status} by {name}.").format(
            reference=app.reference,
            status=status_label(app.status),
            name=html.escape(db_user.full_name),
        )
    )
    await notify_applicant(bot, session, app, notifier, comment)


def create_router(settings: Settings | None = None) -> Router:
    router = Router(name=__name__)
    router.callback_query.register(on_decision, DecisionCallback.filter())
    router.message.register(
        on_comment,
        StateFilter(StaffComment.waiting),
        F.chat.type != "private",
        F.text,
        ~F.text.startswith("/"),
        ~F.is_topic_message,  # a reply in a helpdesk ticket's topic is not this comment
    )
    return router
