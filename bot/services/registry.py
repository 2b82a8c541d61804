"""Builds the area services once per process; each reaches handlers as a keyword argument."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.answers import AnswerService
from bot.services.applications import ApplicationService
from bot.services.helpdesk import HelpdeskService
from bot.services.personal_data import PersonalDataRegistry
from knowledge.programmes import load_catalog

log = logging.getLogger(__name__)


def build_services(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    """Each entry reaches handlers as a keyword argument of that name.

    A service with ``async def run_forever(bot)`` is started as a background worker by the
    runner (schedulers, delivery queues) and cancelled on shutdown. Immutable data loaded from
    files (knowledge base, programme list) is cached by its loader, so tests building many
    contexts load it once.
    """
    if settings.staff_chat_id is None:
        log.warning(
            "STAFF_CHAT_ID is not set: applications and helpdesk requests reach no one "
            "(applicants are told to take their statement to the office)"
        )
    services: dict[str, Any] = {}
    # Areas register here, one line each, e.g. services["knowledge"] = load_knowledge()
    services["programmes"] = load_catalog()  # knowledge.programmes.ProgrammeCatalog
    # bot.services.answers: cited answers, question log; the matcher's index cached on disk
    services["answers"] = AnswerService(cache_dir=settings.search_cache_path)
    services["helpdesk"] = HelpdeskService(settings, sessionmaker)  # tickets, relay, SLA worker
    services["applications"] = ApplicationService(settings)  # bot.services.applications: /apply
    services["personal_data"] = PersonalDataRegistry()  # /mydata, /forget; see personal_data.py
    from bot.services.broadcast import BroadcastService
    from bot.services.reminders import ReminderService

    services["broadcasts"] = BroadcastService(settings, sessionmaker)  # issue 5: delivery worker
    services["reminders"] = ReminderService(settings, sessionmaker, services["broadcasts"])
    from bot.services.faq import FaqService
    from bot.services.unanswered import UnansweredService

    # issue 12: the FAQ and offices behind unsure answers; the unanswered-question loop
    services["faq"] = FaqService(settings, sessionmaker, services["answers"])
    services["unanswered"] = UnansweredService(
        settings, sessionmaker, services["faq"], services["broadcasts"]
    )
    from bot.web.store import WebChatStore

    services["webchat"] = WebChatStore(sessionmaker)  # issue 14: web chat history, /mydata

    from bot.services.stats import StatsService

    services["stats"] = StatsService(settings)  # issue 13: /stats, studentbot stats
    from bot.notifications.stats import WeeklyDigest

    # issue 13: /stats weekly on|off, and the worker posting it on Monday mornings
    services["stats_digest"] = WeeklyDigest(settings, sessionmaker, services["stats"])
    return services
