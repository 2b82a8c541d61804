"""What the application area sends on its own: the staff chat's card with its documents, and
the applicant's notice of a decision (in the applicant's language)."""

from __future__ import annotations

import html
import logging
from contextlib import nullcontext

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import User
from bot.db.models.applications import Application, ApplicationStatus
from bot.notifications.notify import Notifier
from bot.services import validators as v
from bot.views.application_texts import decision_text, staff_card
from bot.views.applications import decision_keyboard, reply_keyboard
from knowledge.programmes import Direction

log = logging.getLogger(__name__)


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
    bot: Bot, session: AsyncSession, app: Application, notifier: Notifier, comment: str | None
) -> None:
    """The office's decision, to the applicant in their language (the stored choice, else the
    application's)."""
    if app.user_id is None:
        return
    user = await session.get(User, app.user_id)
    await notifier.notify(
        bot,
        user if user is not None else app.user_id,
        lambda: decision_text(app, comment),
        language=app.language,
        reply_markup=lambda: (
            reply_keyboard(app) if app.status == ApplicationStatus.NEEDS_INFO.value else None
        ),
        what=f"decision on {app.reference}",
    )
