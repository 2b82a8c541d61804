"""Staff decisions on applications in the staff chat: approve, reject, ask for more.

Every press is checked against the presser's stored role (staff or admin) and against the
application's version (its number of history events), so a forged button, a press by anyone
else, or a replayed old button is refused and logged.
"""

from __future__ import annotations

import html
import logging
from contextlib import nullcontext
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role, User
from bot.db.models.applications import Application, ApplicationStatus
from bot.filters import has_role
from bot.services import validators as v
from bot.services.applications import ApplicationService, StaleAction, render_rule
from handlers.applications import (
    ApplyCallback,
    consent_title,
    kind_label,
    record_rows,
    render_rows,
    status_label,
)
from knowledge.programmes import Direction

log = logging.getLogger(__name__)

ACTIONS = {
    "approve": ApplicationStatus.APPROVED,
    "reject": ApplicationStatus.REJECTED,
    "more": ApplicationStatus.NEEDS_INFO,
}


class DecisionCallback(CallbackData, prefix="apd"):
    id: int
    action: str
    v: int  # the number of history events the card was sent for


class StaffComment(StatesGroup):
    waiting = State()


def decision_keyboard(app: Application) -> InlineKeyboardMarkup:
    version = len(app.events)
    kb = InlineKeyboardBuilder()
    kb.button(
        text=_("✅ Approve"),
        callback_data=DecisionCallback(id=app.id, action="approve", v=version),
    )
    kb.button(
        text=_("❌ Reject"), callback_data=DecisionCallback(id=app.id, action="reject", v=version)
    )
    kb.button(
        text=_("❓ Ask for more"),
        callback_data=DecisionCallback(id=app.id, action="more", v=version),
    )
    kb.adjust(2, 1)
    return kb.as_markup()


def application_fields(app: Application, direction: Direction | None, lang: str) -> dict[str, Any]:
    """A stored application in the wizard's keys, for :func:`record_rows`."""
    return {
        "kind": app.kind,
        "ground": app.ground,
        "role": app.applicant_role,
        "applicant_name": app.applicant_name,
        "full_name": app.full_name,
        "id_kind": app.identifier_kind,
        "id_value": app.identifier,
        "programme_code": app.programme_code,
        "programme_name": direction.name_in(lang) if direction is not None else "",
        "course": app.course,
        "start": app.period_start,
        "end": app.period_end,
        "phone": app.phone,
        "doc_kind": app.document_kind,
        "doc_name": app.document_name,
    }


def staff_card(app: Application, direction: Direction | None, lang: str) -> str:
    """The card for the office: the answers as a clerk checks them, the rules in their terms."""
    lines = [
        _("<b>New application {reference}</b> — {kind}").format(
            reference=app.reference, kind=kind_label(app.kind)
        ),
        _("Status: <b>{status}</b>").format(status=status_label(app.status)),
        *render_rows(record_rows(application_fields(app, direction, lang), mask=True)),
    ]
    if app.consents:
        lines.append(
            _("<b>Accepted:</b> {items}").format(
                items=", ".join(
                    f"{consent_title(c.consent)} {c.version} ({c.accepted_at:%d.%m.%Y %H:%M} UTC)"
                    for c in app.consents
                )
            )
        )
    lines.append("")
    lines += [f"• {render_rule(rule, for_staff=True)}" for rule in app.trace]
    return "\n".join(lines)


async def send_to_staff(
    bot: Bot,
    settings: Settings,
    app: Application,
    *,
    docx: bytes | None,
    direction: Direction | None,
    reply_text: str | None = None,
    reply_upload: v.Upload | None = None,
    office_docx: bytes | None = None,
) -> None:
    """The card with decision buttons, then the supporting document and the statement (and its
    copy in the staff language when the applicant wrote in another)."""
    if settings.staff_chat_id is None:
        log.warning("STAFF_CHAT_ID is not set; application %s reaches no one", app.reference)
        return
    chat = settings.staff_chat_id
    i18n = I18n.get_current(no_error=True)
    lang = settings.default_language
    try:
        with i18n.use_locale(lang) if i18n is not None else nullcontext():
            text = staff_card(app, direction, lang)
            if reply_text is not None or reply_upload is not None:
                text = (
                    _("<b>The applicant answered</b>: {text}").format(
                        text=html.escape(reply_text or "—")
                    )
                    + "\n\n"
                    + text
                )
            await bot.send_message(chat, text[:4000], reply_markup=decision_keyboard(app))
            kind: str | None
            file_id: str | None
            if reply_upload is not None:
                kind, file_id = reply_upload.kind, reply_upload.file_id
            elif docx is not None:
                kind, file_id = app.document_kind, app.document_file_id
            else:
                kind, file_id = None, None
            if file_id and kind == "photo":
                await bot.send_photo(chat, file_id, caption=app.reference)
            elif file_id:
                await bot.send_document(chat, file_id, caption=app.reference)
            if docx is not None:
                await bot.send_document(
                    chat,
                    BufferedInputFile(docx, filename=f"{app.reference}.docx"),
                    caption=_("Statement {reference}").format(reference=app.reference),
                )
            if office_docx is not None:
                await bot.send_document(
                    chat,
                    BufferedInputFile(office_docx, filename=f"{app.reference}-{lang}.docx"),
                    caption=_("Statement {reference}, in the office's language").format(
                        reference=app.reference
                    ),
                )
    except TelegramAPIError as exc:
        log.error("could not send application %s to the staff chat: %s", app.reference, exc)


async def notify_applicant(
    bot: Bot, session: AsyncSession, app: Application, i18n: I18n, comment: str | None
) -> None:
    if app.user_id is None:
        return
    user = await session.get(User, app.user_id)
    lang = (user.language if user is not None and user.language else None) or app.language
    with i18n.use_locale(lang):
        texts = {
            ApplicationStatus.APPROVED.value: _(
                "Your application {reference} is <b>approved</b>. The list of disciplines at a "
                "distance is fixed by the Rector's order (5.4.3); your individual plan follows "
                "(5.4.10)."
            ),
            ApplicationStatus.REJECTED.value: _(
                "Your application {reference} is <b>rejected</b>."
            ),
            ApplicationStatus.NEEDS_INFO.value: _(
                "The office needs more information for your application {reference}."
            ),
        }
        text = texts.get(app.status, _("Your application {reference}: {status}.")).format(
            reference=app.reference, status=status_label(app.status)
        )
        if comment:
            text += "\n" + _("Comment: «{comment}»").format(comment=html.escape(comment))
        markup = None
        if app.status == ApplicationStatus.NEEDS_INFO.value:
            kb = InlineKeyboardBuilder()
            kb.button(
                text=_("✉️ Answer"), callback_data=ApplyCallback(action="reply", value=str(app.id))
            )
            markup = kb.as_markup()
        try:
            await bot.send_message(app.user_id, text, reply_markup=markup)
        except TelegramAPIError as exc:
            log.warning("could not notify user %s about %s: %s", app.user_id, app.reference, exc)


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
    i18n: I18n,
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
        await notify_applicant(bot, session, app, i18n, None)
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
    i18n: I18n,
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
    await notify_applicant(bot, session, app, i18n, comment)


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
