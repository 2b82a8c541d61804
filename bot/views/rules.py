"""Buttons of Regulation No. 066's clauses: /rules browses them, answers link to them."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.services.answers import AnswerService
from knowledge.regulation import Clause

LABEL_CHARS = 60


class RulesCallback(CallbackData, prefix="rules"):
    """``to``: ``root`` (sections), ``s`` (a section's clauses, ``page``), ``c`` (a clause)."""

    to: str
    id: str = ""
    page: int = 0


def label(text: str) -> str:
    """A button's text, cut to what Telegram shows on a phone."""
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def clause_button(clause: Clause, lang: str, answers: AnswerService) -> str:
    return label(f"{answers.cite(clause.id)} · {clause.title_in(lang)}")
