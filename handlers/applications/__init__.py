"""Applications: the /apply wizard (``wizard``), the applicant's /myapplications (``mine``) and
the staff's decisions in the staff chat (``staff``).

The three share no code with each other: states are in ``bot/states.py``, buttons and words in
``bot/views/``, the step graph in ``bot/services/application_steps.py``, what is sent to the
staff chat and the applicant in ``bot/notifications/applications.py``.
"""

from __future__ import annotations

from aiogram import F, Router

from bot.middlewares import WizardRunMiddleware
from handlers.applications import mine, staff, wizard


def create_router() -> Router:
    """The wizard, then /myapplications, in private chats."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    # issue 13: each run of the wizard (started, step reached, submitted or left) for /stats
    runs = WizardRunMiddleware("ApplyForm", "apply")
    router.message.middleware(runs)
    router.callback_query.middleware(runs)
    # The wizard first: /apply typed while answering the office starts it (the answer's
    # handler takes any text); the wizard leaves «✉️ Answer» presses to /myapplications.
    router.include_routers(wizard.create_router(), mine.create_router())
    return router


def create_staff_router() -> Router:
    """Decisions in the staff chat (taken before the helpdesk relay, which takes every message
    there)."""
    return staff.create_router()
