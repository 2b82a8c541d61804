"""The main menu and language keyboard; button texts are lazy so filters match in any locale."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder

from bot.config import LANGUAGES
from bot.i18n import LANGUAGE_NAMES

MENU_ASK = __("❓ Ask a question")
MENU_APPLY = __("📝 Apply")
MENU_RULES = __("📚 Regulation")
MENU_REMINDERS = __("⏰ Reminders")
MENU_HUMAN = __("🙋 Ask a person")
MENU_LANGUAGE = __("🌐 Language")
MENU_ITEMS = (MENU_ASK, MENU_APPLY, MENU_RULES, MENU_REMINDERS, MENU_HUMAN, MENU_LANGUAGE)


def is_menu_item(message: Message) -> bool:
    """The text of a main-menu button (in the current locale): a choice, not an answer."""
    return message.text in {str(item) for item in MENU_ITEMS}


def not_menu_item(message: Message) -> bool:
    return not is_menu_item(message)


class LanguageCallback(CallbackData, prefix="lang"):
    code: str


def main_menu() -> ReplyKeyboardMarkup:
    builder = ReplyKeyboardBuilder()
    for item in (MENU_ASK, MENU_APPLY, MENU_RULES, MENU_REMINDERS, MENU_HUMAN, MENU_LANGUAGE):
        builder.button(text=str(item))
    builder.adjust(2)
    return builder.as_markup(resize_keyboard=True, input_field_placeholder=_("Type a question…"))


def language_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        builder.button(text=LANGUAGE_NAMES[code], callback_data=LanguageCallback(code=code))
    builder.adjust(3)
    return builder.as_markup()
