"""Web users and web updates have ids Telegram never gives, and the context of an update.

Telegram user ids fit in 52 bits (Bot API: "at most 52 significant bits"), so web users take
``[2**52, 2**53)``: never a Telegram id, still an exact JavaScript number. Web update ids are
``2**52 + n`` too, while Telegram's update ids are 32-bit counters, so the update ledger never
mixes them up. An update from Telegram naming a user in the web range is dropped by
:class:`WebIdGuard`: only the web intake may speak for a web user.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

log = logging.getLogger(__name__)

WEB_ID_MIN = 2**52
WEB_ID_MAX = 2**53 - 1  # Number.MAX_SAFE_INTEGER in the browser
WEB_UPDATE_BASE = 2**52

# Set by the web intake while it feeds a browser's update (the guard lets only those through).
from_web: ContextVar[bool] = ContextVar("studentbot_from_web", default=False)
# The update being handled: a staff message copied to a web user is read from it.
current_update: ContextVar[Update | None] = ContextVar("studentbot_update", default=None)
# What handlers sent to web chats during this update, written once it is done
# (bot.web.store.WebChatStore.write): no second database writer inside a handler.
pending_ops: ContextVar[list[Any] | None] = ContextVar("studentbot_web_ops", default=None)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def is_web_id(chat_or_user_id: int | str | None) -> bool:
    return isinstance(chat_or_user_id, int) and WEB_ID_MIN <= chat_or_user_id <= WEB_ID_MAX


def new_web_user_id() -> int:
    return WEB_ID_MIN + secrets.randbelow(WEB_ID_MAX - WEB_ID_MIN + 1)


class WebIdGuard(BaseMiddleware):
    """First outer middleware: an update that is not the web intake's cannot act as a web user;
    what the update sends to web chats is written by ``flush`` after everything else."""

    def __init__(self, flush: Callable[[list[Any]], Awaitable[None]] | None = None) -> None:
        self.flush = flush

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is not None and is_web_id(user.id) and not from_web.get():
            log.warning("update naming web user %s not from the web chat: dropped", user.id)
            return None
        if self.flush is None:
            return await handler(event, data)
        ops: list[Any] = []
        token = pending_ops.set(ops)
        try:
            return await handler(event, data)
        finally:
            pending_ops.reset(token)
            if ops:
                await self.flush(ops)


class UpdateContext(BaseMiddleware):
    """Innermost outer middleware: the update in hand, for :mod:`bot.web.session`."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update = event if isinstance(event, Update) else data.get("event_update")
        token = current_update.set(update if isinstance(update, Update) else None)
        try:
            return await handler(event, data)
        finally:
            current_update.reset(token)
