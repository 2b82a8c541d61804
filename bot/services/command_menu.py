"""Each private chat's Telegram command menu shows the commands of its user's role.

The default menu (set at start-up for every private chat, one per language) lists a student's
commands. A chat whose user is a curator, staff or an admin, or a student who chose a language
other than their Telegram app's, gets its own menu (``BotCommandScopeChat``). ``users.
commands_menu`` remembers which one ("staff:ru"), so the Bot API is called only on a change:
a role granted, a language switched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import AiogramError
from aiogram.types import BotCommandScopeChat
from aiogram.utils.i18n import I18n

from bot.db.models import Role, User
from bot.i18n import language_from_telegram, use_locale
from bot.menu import bot_commands_for

log = logging.getLogger(__name__)


def wanted_menu(user: User, default_language: str) -> tuple[str | None, str]:
    """(the key of the menu the user's chat should have — None for the default —, language)."""
    telegram = language_from_telegram(user.telegram_language, default_language)
    lang = user.language or telegram
    if user.role == Role.STUDENT.value and lang == telegram:
        return None, lang
    return f"{user.role}:{lang}", lang


class CommandMenus:
    """Sets a chat's menu when its key changes; after a refusal, waits before trying again."""

    def __init__(
        self,
        i18n: I18n,
        default_language: str,
        *,
        retry_after: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.i18n = i18n
        self.default_language = default_language
        self.retry_after = retry_after
        self.clock = clock
        self._refused: dict[int, float] = {}

    async def sync(self, bot: Bot, user: User, available: frozenset[str] | None) -> bool:
        """Give ``user``'s private chat the menu of their role; True when it was changed.

        The caller commits ``user.commands_menu``."""
        key, lang = wanted_menu(user, self.default_language)
        if key == user.commands_menu:
            return False
        refused_at = self._refused.get(user.id)
        if refused_at is not None and self.clock() - refused_at < self.retry_after:
            return False
        scope = BotCommandScopeChat(chat_id=user.id)
        try:
            if key is None:
                await bot.delete_my_commands(scope=scope)
            else:
                with use_locale(self.i18n, lang):
                    commands = bot_commands_for(user.role, available)
                await bot.set_my_commands(commands, scope=scope)
        except (AiogramError, TimeoutError, OSError) as exc:  # a proxy's HTML page included
            log.warning("could not set the command menu of chat %s: %s", user.id, exc)
            if len(self._refused) > 10_000:
                self._refused.clear()
            self._refused[user.id] = self.clock()
            return False
        self._refused.pop(user.id, None)
        user.commands_menu = key
        return True
