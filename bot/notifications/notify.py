"""One-off messages to a person, in their language, never crashing the caller.

Areas tell a person something outside the update they are handling — an application's
decision, a helpdesk notice, a staff member's action on a ticket — through
:meth:`Notifier.notify`::

    await notifier.notify(bot, student, lambda: _("Your request #{id} is closed.").format(id=7))

The text (and keyboard) is rendered inside the recipient's language: their stored choice, else
the language the caller knows them by (the ticket's, the application's), else the bot's default.
Telegram's refusals are answers, not crashes: a blocked bot, a deleted chat, a flood wait or any
other Bot API or network error is logged, counted (``studentbot_notifications_total`` by
outcome) and returned as an :class:`Outcome`. Mass delivery (broadcasts, reminders) has its
own queue with retries (:mod:`bot.services.broadcast`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove

from bot.config import LANGUAGES
from bot.db.models import User
from bot.texts import use_locale

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

    from bot.metrics import Metrics

log = logging.getLogger(__name__)

__all__ = ["Notifier", "Outcome"]

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # the person blocked the bot (or deactivated their account)
    NOT_FOUND = "not_found"  # no such chat, or the bot may not write there
    FLOOD = "flood"  # Telegram asked to wait (429); a one-off message is not retried
    FAILED = "failed"  # any other Bot API or network error

    @property
    def delivered(self) -> bool:
        return self is Outcome.SENT


class Notifier:
    """Sends one-off messages in the recipient's language; see the module's docstring."""

    def __init__(self, i18n: I18n, default_language: str, metrics: Metrics | None = None) -> None:
        self.i18n = i18n
        self.default_language = default_language
        self.metrics = metrics

    def language_of(self, user: User | None, known: str | None = None) -> str:
        """The stored choice, else ``known`` (what the caller knows), else the default."""
        for lang in (user.language if user is not None else None, known):
            if lang in LANGUAGES:
                return str(lang)
        return self.default_language

    async def notify(
        self,
        bot: Bot,
        user: User | int,
        text: str | Callable[[], str],
        *,
        language: str | None = None,
        reply_markup: Markup | Callable[[], Markup | None] | None = None,
        what: str = "notice",
        **send: Any,
    ) -> Outcome:
        """Send ``text`` to ``user`` (a row, or a bare chat id with ``language``).

        ``text`` and ``reply_markup`` may be callables: they are called inside the recipient's
        language, so ``_()`` in them translates for the recipient. ``what`` names the notice
        in the log. ``send`` goes to ``bot.send_message`` (``message_thread_id`` …).
        """
        row = user if isinstance(user, User) else None
        chat_id = user.id if isinstance(user, User) else user
        lang = self.language_of(row, language)
        with use_locale(self.i18n, lang):
            body = text() if callable(text) else text
            markup = reply_markup() if callable(reply_markup) else reply_markup
        try:
            await bot.send_message(chat_id, body, reply_markup=markup, **send)
        except TelegramRetryAfter as exc:
            outcome = Outcome.FLOOD
            log.warning("%s to %s not sent: flood control, %ss", what, chat_id, exc.retry_after)
        except TelegramForbiddenError as exc:
            outcome = Outcome.BLOCKED
            log.info("%s to %s not sent: %s", what, chat_id, exc.message)
        except (TelegramBadRequest, TelegramNotFound) as exc:
            outcome = Outcome.NOT_FOUND if "not found" in exc.message.lower() else Outcome.FAILED
            log.info("%s to %s not sent: %s", what, chat_id, exc.message)
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            outcome = Outcome.FAILED
            log.warning("%s to %s not sent: %s", what, chat_id, exc)
        else:
            outcome = Outcome.SENT
        if self.metrics is not None:
            self.metrics.notifications.labels(outcome=outcome.value).inc()
        return outcome
