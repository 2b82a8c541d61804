"""The application context: everything one process builds once, typed.

:func:`bot.factory.create_app_context` builds an :class:`AppContext`; the dispatcher receives
its parts as workflow data, so a handler declares what it needs by parameter name
(``broadcasts: BroadcastService``, ``helpdesk: HelpdeskService``, ``i18n: I18n``, ``app``)
and nothing is looked up in a module-level object or a dict. Imports point one way: this module
imports the services; services and handlers never import it back (a handler only names
:class:`AppContext` as the type of ``app``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import hotcache
from bot.budget import OutgoingBudget
from bot.config import Settings
from bot.db.base import dispose_engine
from bot.metrics import Metrics
from bot.services.personal_data import PersonalDataProvider
from bot.workers import BackgroundWorker

if TYPE_CHECKING:
    from bot.notifications.notify import Notifier
    from bot.notifications.stats import WeeklyDigest
    from bot.services.answers import AnswerService
    from bot.services.applications import ApplicationService
    from bot.services.broadcast import BroadcastService
    from bot.services.faq import FaqService
    from bot.services.helpdesk import HelpdeskService
    from bot.services.personal_data import PersonalDataRegistry
    from bot.services.reminders import ReminderService
    from bot.services.stats import StatsService
    from bot.services.unanswered import UnansweredService
    from bot.web.store import WebChatStore
    from knowledge.programmes import ProgrammeCatalog

log = logging.getLogger(__name__)

__all__ = ["AppContext", "BackgroundWorker", "PersonalDataProvider", "Services", "build_services"]


@dataclass(frozen=True, slots=True)
class Services:
    """The area services; each reaches handlers as a keyword argument of its field's name."""

    programmes: ProgrammeCatalog  # the programme list (Appendix 1), /programme
    answers: AnswerService  # cited answers, question log; the matcher's index cached on disk
    helpdesk: HelpdeskService  # tickets, relay, SLA worker
    applications: ApplicationService  # /apply
    personal_data: PersonalDataRegistry  # /mydata, /forget
    broadcasts: BroadcastService  # issue 5: broadcasts and their delivery worker
    reminders: ReminderService  # issue 5: calendar reminders
    faq: FaqService  # issue 12: the FAQ and offices behind unsure answers
    unanswered: UnansweredService  # issue 12: the unanswered-question loop
    webchat: WebChatStore  # issue 14: web chat history, /mydata
    stats: StatsService  # issue 13: /stats, studentbot stats
    stats_digest: WeeklyDigest  # issue 13: /stats weekly on|off and its Monday worker
    notifier: Notifier  # one-off messages to a person, in their language (issue 15.2)

    def by_name(self) -> dict[str, Any]:
        """Field name → service: the dispatcher's workflow data."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def workers(self) -> dict[str, BackgroundWorker]:
        """The services the runner starts with the bot and stops at shutdown."""
        return {
            "helpdesk": self.helpdesk,
            "broadcasts": self.broadcasts,
            "reminders": self.reminders,
            "unanswered": self.unanswered,
            "stats_digest": self.stats_digest,
        }

    def personal_data_providers(self) -> list[PersonalDataProvider]:
        """The services holding per-user rows of their own, for /mydata and /forget."""
        return [self.applications, self.webchat]


def build_services(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    metrics: Metrics,
) -> Services:
    """Immutable data loaded from files (knowledge base, programme list) is cached by its
    loader, so tests building many contexts load it once."""
    from bot.notifications.notify import Notifier
    from bot.notifications.stats import WeeklyDigest
    from bot.services.answers import AnswerService
    from bot.services.applications import ApplicationService
    from bot.services.broadcast import BroadcastService
    from bot.services.faq import FaqService
    from bot.services.helpdesk import HelpdeskService
    from bot.services.personal_data import PersonalDataRegistry
    from bot.services.reminders import ReminderService
    from bot.services.stats import StatsService
    from bot.services.unanswered import UnansweredService
    from bot.web.store import WebChatStore
    from knowledge.programmes import load_catalog

    if settings.staff_chat_id is None:
        log.warning(
            "STAFF_CHAT_ID is not set: applications and helpdesk requests reach no one "
            "(applicants are told to take their statement to the office)"
        )
    answers = AnswerService(i18n=i18n, cache_dir=settings.search_cache_path)
    broadcasts = BroadcastService(settings, sessionmaker, i18n=i18n)
    faq = FaqService(settings, sessionmaker, answers)
    stats = StatsService(settings)
    return Services(
        programmes=load_catalog(),
        answers=answers,
        helpdesk=HelpdeskService(settings, sessionmaker, i18n=i18n),
        applications=ApplicationService(settings),
        personal_data=PersonalDataRegistry(),
        broadcasts=broadcasts,
        reminders=ReminderService(settings, sessionmaker, broadcasts),
        faq=faq,
        unanswered=UnansweredService(settings, sessionmaker, faq, broadcasts),
        webchat=WebChatStore(sessionmaker),
        stats=stats,
        stats_digest=WeeklyDigest(settings, sessionmaker, stats, i18n=i18n),
        notifier=Notifier(i18n, settings.default_language, metrics),
    )


@dataclass
class AppContext:
    """Everything created once per process."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    i18n: I18n  # the process's one I18n: handlers, services and workers translate through it
    storage: BaseStorage
    events_isolation: BaseEventIsolation
    services: Services
    budget: OutgoingBudget | None = None  # the bot's outgoing budget (bot/budget.py)

    async def close(self) -> None:
        await self.storage.close()
        await self.events_isolation.close()
        if self.budget is not None:
            await self.budget.aclose()
        await hotcache.of(self.engine).aclose()  # issue 18: the Redis subscription
        await dispose_engine(self.engine)  # with the SQLite checkpoints
