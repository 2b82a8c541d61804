"""Gettext catalogs (Babel) and the locale: stored choice, else Telegram's, else the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy.exc import SQLAlchemyError

from bot.catalogs import DOMAIN, LOCALES_DIR, compile_catalogs
from bot.config import LANGUAGES
from bot.texts import current_locale, use_locale

__all__ = [
    "DOMAIN",
    "LANGUAGE_NAMES",
    "LOCALES_DIR",
    "RUSSIAN_FALLBACK",
    "UserLocaleMiddleware",
    "compile_catalogs",
    "current_locale",
    "language_from_telegram",
    "make_i18n",
    "use_locale",
]

# Telegram language codes outside kk/ru/en that fall back to Russian rather than English:
# the post-Soviet languages whose speakers in Kazakhstan read Russian more often than English.
RUSSIAN_FALLBACK = frozenset({"uk", "be", "uz", "ky", "tg", "tk", "az", "hy", "ka", "tt", "ba"})

LANGUAGE_NAMES: dict[str, str] = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


def make_i18n(default_locale: str = "kk", path: Path = LOCALES_DIR) -> I18n:
    compile_catalogs(path)
    return I18n(path=path, default_locale=default_locale, domain=DOMAIN)


def language_from_telegram(code: str | None, default: str) -> str:
    """Map Telegram's ``language_code`` (``ru``, ``kk``, ``en-GB``, ``uk`` …) onto kk/ru/en."""
    if not code:
        return default
    base = code.lower().replace("_", "-").split("-")[0]
    if base in LANGUAGES:
        return base
    if base in RUSSIAN_FALLBACK:
        return "ru"
    return "en"


class UserLocaleMiddleware(I18nMiddleware):
    """The stored choice (``data["db_user"]``) wins; then Telegram's language; then the default."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        db_user = data.get("db_user")
        try:
            stored = db_user.language if db_user is not None else None
        except SQLAlchemyError:  # the update's session failed and was rolled back
            stored = None
        if stored in LANGUAGES:
            return str(stored)
        tg_user: TgUser | None = data.get("event_from_user")
        return language_from_telegram(
            tg_user.language_code if tg_user else None, self.i18n.default_locale
        )
