"""Editing a message that a button sat under, without losing the choice when the edit fails.

An edit can fail where a new message would not: Telegram refuses edits of messages older than
48 hours ("message can't be edited"), an unchanged text ("message is not modified"), a deleted
message, or a Bot API server whose answer the client cannot parse. Handlers store the choice
first and then call :func:`edit_or_send`, which falls back to sending the text as a new message.
"""

from __future__ import annotations

import logging

from aiogram.exceptions import ClientDecodeError, TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)


async def edit_or_send(
    message: Message, text: str, *, reply_markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Edit ``message`` to ``text``; if that fails, send ``text`` as a new message.

    Returns the message now showing the text (None when it was already showing it)."""
    try:
        edited = await message.edit_text(text, reply_markup=reply_markup)
    except TelegramBadRequest as exc:
        if "not modified" in str(exc).lower():
            return None
        log.info("could not edit message %s in %s: %s", message.message_id, message.chat.id, exc)
    except (TelegramAPIError, ClientDecodeError) as exc:
        log.info("could not edit message %s in %s: %s", message.message_id, message.chat.id, exc)
    else:
        return edited if isinstance(edited, Message) else None
    return await message.answer(text, reply_markup=reply_markup)
