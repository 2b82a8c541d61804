"""The main menu, the language keyboard and the commands of each role.

Button texts are lazy so filters match in any locale.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BotCommand, InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from aiogram.utils.keyboard import InlineKeyboardBuilder, ReplyKeyboardBuilder

from bot.config import LANGUAGES
from bot.db.models import Role
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
    return message.text in menu_texts()


# The menu's texts in each locale of each I18n, rendered once (six lazy labels were rendered
# at every question, issue 18); a reloaded I18n (new ``locales``) renders them again.
_MENU_TEXTS: weakref.WeakKeyDictionary[I18n, tuple[object, dict[str, frozenset[str]]]] = (
    weakref.WeakKeyDictionary()
)


def menu_texts() -> frozenset[str]:
    """The main menu's button texts in the current locale."""
    i18n = I18n.get_current(no_error=True)
    if i18n is None:
        return frozenset(str(item) for item in MENU_ITEMS)
    catalogs, by_locale = _MENU_TEXTS.get(i18n, (None, {}))
    if catalogs is not i18n.locales:
        by_locale = {}
        _MENU_TEXTS[i18n] = (i18n.locales, by_locale)
    locale = i18n.current_locale
    texts = by_locale.get(locale)
    if texts is None:
        texts = by_locale[locale] = frozenset(str(item) for item in MENU_ITEMS)
    return texts


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


# Commands by role ------------------------------------------------------------------------------
# One list feeds /help, the Telegram command menu of each chat (BotCommandScopeChat) and the
# "this command is for staff" answers. A command shows only where a handler for it exists, so
# an entry may be listed before its area lands.


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    description: Any  # lazy gettext: rendered in the reader's language
    role: Role = Role.STUDENT  # the least role that may use it
    staff_chat: bool = False  # used in the staff chat, not in a private chat with the bot


COMMANDS: tuple[CommandInfo, ...] = (
    CommandInfo("start", __("Start and main menu")),
    CommandInfo("help", __("What I can do")),
    CommandInfo("rules", __("Browse the regulation")),
    CommandInfo("apply", __("Apply for distance or online learning")),
    CommandInfo("myapplications", __("My applications")),
    CommandInfo("reminders", __("Reminder settings")),
    CommandInfo("profile", __("Your faculty, programme and course year, for reminders")),
    CommandInfo("join", __("Join your curator's group: /join CODE")),
    CommandInfo("human", __("Ask a person")),
    CommandInfo("language", __("Change language")),
    CommandInfo("cancel", __("Cancel the current action")),
    CommandInfo("mydata", __("Everything stored about you")),
    CommandInfo("forget", __("Delete everything stored about you")),
    CommandInfo("newgroup", __("Create a group: /newgroup NAME"), Role.CURATOR),
    CommandInfo("groups", __("Your groups, their codes and invite links"), Role.CURATOR),
    CommandInfo("broadcast", __("A message to your students"), Role.CURATOR),
    CommandInfo("calendar", __("The academic calendar for reminders"), Role.STAFF),
    CommandInfo(
        "unanswered",
        __("Questions I could not answer, grouped: answer each once for everyone"),
        Role.STAFF,
    ),
    CommandInfo("offices", __("The offices I send students to (admins edit them)"), Role.STAFF),
    CommandInfo("stats", __("What is happening, in charts"), Role.STAFF),
    CommandInfo("tickets", __("Open helpdesk requests"), Role.STAFF, staff_chat=True),
    CommandInfo("take", __("Take the request of this topic"), Role.STAFF, staff_chat=True),
    CommandInfo("close", __("Close the request of this topic"), Role.STAFF, staff_chat=True),
    CommandInfo("ban", __("Stop this student opening requests"), Role.STAFF, staff_chat=True),
    CommandInfo("unban", __("Let them open requests again"), Role.STAFF, staff_chat=True),
)
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}


def may_use(role: str | Role, info: CommandInfo) -> bool:
    return Role(role).rank >= info.role.rank


def registered_commands(router: Router) -> frozenset[str]:
    """Names of the commands some message handler of ``router`` (and its sub-routers) takes."""
    cached: frozenset[str] | None = getattr(router, "_studentbot_commands", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for sub in router.chain_tail:
        for handler in sub.message.handlers:
            for flt in handler.filters or ():
                if isinstance(flt.callback, Command):
                    names.update(c for c in flt.callback.commands if isinstance(c, str))
    found = frozenset(names)
    router._studentbot_commands = found  # type: ignore[attr-defined]
    return found


def commands_for(role: str | Role, available: frozenset[str] | None = None) -> list[CommandInfo]:
    """The private-chat commands ``role`` may use (those with a handler, when ``available``)."""
    return [
        c
        for c in COMMANDS
        if not c.staff_chat and may_use(role, c) and (available is None or c.name in available)
    ]


def bot_commands_for(
    role: str | Role, available: frozenset[str] | None = None
) -> list[BotCommand]:
    """The Telegram command menu of a private chat, in the current locale."""
    return [
        BotCommand(command=c.name, description=str(c.description))
        for c in commands_for(role, available)
    ]


def _lines(infos: list[CommandInfo]) -> str:
    return "\n".join(f"/{c.name} — {c.description}" for c in infos)


def role_help(role: str | Role, available: frozenset[str] | None = None) -> str:
    """The commands of ``role``, grouped: everyone's, then the curator's, then the staff's."""
    role = Role(role)
    mine = commands_for(role, available)
    parts = [_lines([c for c in mine if c.role is Role.STUDENT])]
    curator = [c for c in mine if c.role is Role.CURATOR]
    if curator:
        parts.append(_("<b>For curators:</b>") + "\n" + _lines(curator))
    staff = [c for c in mine if c.role is Role.STAFF]
    if role.rank >= Role.STAFF.rank:
        chat = [c for c in COMMANDS if c.staff_chat and (available is None or c.name in available)]
        block = [_("<b>For staff:</b>")]
        if staff:
            block.append(_lines(staff))
        if chat:
            block.append(_("In the staff chat (a request's topic):") + "\n" + _lines(chat))
        block.append(
            _("Applications are decided with the buttons under each card in the staff chat.")
        )
        parts.append("\n".join(block))
    return "\n\n".join(parts)
