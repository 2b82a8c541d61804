"""After a private chat's update, its command menu follows the user's role and language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject

from bot.db.models import User
from bot.menu import registered_commands
from bot.services.command_menu import CommandMenus

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class CommandMenuMiddleware(BaseMiddleware):
    """After a private chat's update, its command menu follows the user's role and language."""

    def __init__(self, menus: CommandMenus) -> None:
        self.menus = menus

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        chat = data.get("event_chat")
        user: User | None = data.get("db_user")
        bot: Bot | None = data.get("bot")
        if chat is None or chat.type != "private" or user is None or bot is None:
            return result
        dispatcher = data.get("dispatcher")
        available = registered_commands(dispatcher) if dispatcher is not None else None
        await self.menus.sync(bot, user, available)
        return result
