"""Callback data shared between areas (an area's own buttons live in its handler module)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class AskPersonCallback(CallbackData, prefix="human"):
    """ "Ask a person" under an answer: the knowledge area sends it, the helpdesk handles it.

    ``question_id`` is the stored question (0 when there is none), so the ticket's context card
    can show what the student asked and which clauses the bot answered with.
    """

    question_id: int = 0


class StartApplicationCallback(CallbackData, prefix="apst"):
    """«📝 Apply» under an answer: the knowledge area sends it, the applications area starts
    ``/apply`` with the kind (``dl`` or ``online``) and, for distance learning, the ground the
    question named (empty: the student chooses it) already chosen."""

    kind: str = "dl"
    ground: str = ""
