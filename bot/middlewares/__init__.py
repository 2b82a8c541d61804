"""The dispatcher's middlewares, one module per job, and their order (:func:`setup`).

Update outer middlewares, outermost first (each sees what the ones before it put in ``data``):

1. :class:`bot.web.ids.WebIdGuard` — a Telegram update naming a web user is dropped.
2. :mod:`.update` — claim the update (ledger or inbox row), open its database session, track it
   in flight, record its Bot API calls.
3. :class:`.fsm_state.FsmLock` — aiogram's FSM middleware without its state read: the per-chat
   lock and the ``state`` context.
4. :mod:`.session` — the session for the handlers; committed (with the inbox row marked done).
5. :mod:`.user` — the user's row (``db_user``).
6. :class:`.fsm_state.FsmState` — the state (``raw_state``, read through the update's session;
   none to read for a user whose row the update created).
7. :class:`bot.i18n.UserLocaleMiddleware` — the user's language.
8. :mod:`.command_menu` — the chat's command menu follows the role and language.
9. :class:`bot.web.ids.UpdateContext` — the update in hand, for the web chat.
10. :class:`bot.budget.SendClassMiddleware` — staff-chat work is RELAY, else REPLY.

Message and callback outer middlewares: :mod:`.flood` (after the locale: the notice is in the
user's language); on messages, innermost, :mod:`.lane` (a plain question straight to its
handler). Router-level: :mod:`.wizard_runs`, installed by a wizard's router. The Bot API
session's own chain (metrics, the call record) is :mod:`.api_metrics`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Dispatcher

from bot.aiogram_compat import detach_fsm_middleware
from bot.budget import SendClassMiddleware
from bot.i18n import UserLocaleMiddleware
from bot.middlewares.command_menu import CommandMenuMiddleware
from bot.middlewares.flood import setup_flood_control
from bot.middlewares.fsm_state import FsmLock, FsmState
from bot.middlewares.lane import QuestionLane
from bot.middlewares.session import DbSessionMiddleware
from bot.middlewares.user import UserMiddleware
from bot.middlewares.wizard_runs import WizardRunMiddleware
from bot.services.command_menu import CommandMenus
from bot.web.ids import UpdateContext, WebIdGuard

if TYPE_CHECKING:
    from bot.app import AppContext
    from bot.reliability import Reliability


__all__ = [
    "CommandMenuMiddleware",
    "DbSessionMiddleware",
    "FsmLock",
    "FsmState",
    "QuestionLane",
    "UserMiddleware",
    "WizardRunMiddleware",
    "setup",
]


def setup(dp: Dispatcher, ctx: AppContext) -> Reliability:
    """Register every middleware of ours on ``dp`` in the order above; returns the update
    pipeline's :class:`~bot.reliability.Reliability` (also ``dp["reliability"]``)."""
    from datetime import timedelta

    from bot.reliability import Reliability

    settings = ctx.settings
    dp.update.outer_middleware(WebIdGuard(ctx.services.webchat.write))
    # The claim opens the update's session; the FSM lock (per user and chat) comes next, and
    # the session is committed inside it, so the user's next update reads the state this one
    # wrote. The state is read inside the lock too, once the user's row is known.
    detach_fsm_middleware(dp)
    reliability = Reliability(
        ctx.sessionmaker,
        retention=timedelta(hours=settings.processed_updates_retention_hours),
        lease_seconds=settings.update_lease_seconds,
    )
    dp.update.outer_middleware(reliability.middleware)
    dp["reliability"] = reliability
    dp.update.outer_middleware(FsmLock(dp.fsm))
    dp.update.outer_middleware(DbSessionMiddleware(ctx.sessionmaker))
    dp.update.outer_middleware(UserMiddleware(settings))
    dp.update.outer_middleware(FsmState())
    UserLocaleMiddleware(ctx.i18n).setup(dp)
    dp.update.outer_middleware(
        CommandMenuMiddleware(CommandMenus(ctx.i18n, settings.default_language))
    )
    setup_flood_control(dp, ctx)
    lane = QuestionLane()  # planned from the routers at the first update
    dp.message.outer_middleware(lane)
    dp["question_lane"] = lane
    dp.update.outer_middleware(UpdateContext())
    dp.update.outer_middleware(SendClassMiddleware())
    return reliability
