"""One central error handler: log with context, tell the user without leaking internals."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import gettext as _

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    update = event.update
    log.error("update %s failed: %s", update.update_id, event.exception, exc_info=event.exception)
    chat_id: int | None = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        try:
            await update.callback_query.answer(_("Something went wrong. Please try again."))
        except TelegramAPIError:
            pass
        return True
    if chat_id is not None and not isinstance(event.exception, TelegramAPIError):
        try:
            await bot.send_message(
                chat_id, _("Something went wrong on my side. Please try again in a minute.")
            )
        except TelegramAPIError:
            log.warning("could not tell chat %s about the error", chat_id)
    return True


def create_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_error)
    return router
