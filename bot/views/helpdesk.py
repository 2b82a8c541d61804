"""The student side of the helpdesk: its buttons (callback data, keyboards) and notices.

Shared by the student's router, the staff's (the rating prompt after a staff /close) and the
common commands (/start, /help and /cancel mention an open request)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.db.models.helpdesk import Ticket
from bot.services.helpdesk import TOPIC_LABELS


class TopicCallback(CallbackData, prefix="hdtopic"):
    topic: str


class CloseTicketCallback(CallbackData, prefix="hdclose"):
    ticket_id: int


class RateCallback(CallbackData, prefix="hdrate"):
    ticket_id: int
    score: int  # 1..5; 0 = skip the comment


class CommentCallback(CallbackData, prefix="hdcomment"):
    """The student asks to add a comment to their rating: only then is a text taken as one."""

    ticket_id: int


def topic_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for topic, label in TOPIC_LABELS.items():
        builder.button(text=str(label), callback_data=TopicCallback(topic=topic.value))
    builder.adjust(2)
    return builder.as_markup()


def close_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Close the request"), callback_data=CloseTicketCallback(ticket_id=ticket_id)
    )
    return builder.as_markup()


def rating_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for score in range(1, 6):
        builder.button(
            text=f"{score} ⭐", callback_data=RateCallback(ticket_id=ticket_id, score=score)
        )
    builder.adjust(5)
    return builder.as_markup()


def comment_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✍️ Add a comment"), callback_data=CommentCallback(ticket_id=ticket_id))
    return builder.as_markup()


def skip_keyboard(ticket_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Skip"), callback_data=RateCallback(ticket_id=ticket_id, score=0))
    return builder.as_markup()


def rating_prompt() -> str:
    return _("How would you rate the help you received? Press 1 (poor) to 5 (excellent).")


def open_notice(ticket: Ticket) -> str:
    return _(
        "Request #{id} is open: a person from the Helpdesk will answer here. What you type now "
        "goes to them, and I mark each message with ✍. Commands such as /rules or /apply still "
        "work. To leave the request, send /cancel or press the button below."
    ).format(id=ticket.id)


def still_open_notice(ticket: Ticket) -> str:
    """Said by /start, /help and /cancel (of a wizard) while a request is open."""
    return _(
        "Your request #{id} to the Helpdesk is open: what you type goes to a person, not to me. "
        "/cancel or the button below leaves it."
    ).format(id=ticket.id)


def already_open_notice(ticket: Ticket) -> str:
    return _(
        "Your request #{id} is already open. Just write here: a person will answer. "
        "/cancel leaves the request, and I answer your questions again."
    ).format(id=ticket.id)


def sent_note(ticket: Ticket) -> str:
    return _(
        "✍ Sent to the Helpdesk (request #{id}). A person will answer here; /cancel leaves "
        "the request."
    ).format(id=ticket.id)
