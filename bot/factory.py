"""One factory builds everything for production, the local chat and the tests alike.

Long-lived objects live on an :class:`bot.app.AppContext` created once per process; the
dispatcher gets them as workflow data, so handlers declare what they need as typed parameters.
"""

from __future__ import annotations

import logging

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import AiogramError
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n

from bot import hotcache
from bot.aiogram_compat import flatten_bot_context, inline_sync_filters
from bot.app import AppContext, Services, build_services
from bot.budget import OutgoingBudget, install_budget
from bot.config import LANGUAGES, Settings
from bot.db.base import create_engine, create_sessionmaker, pool_size_for
from bot.fsm import SQLAlchemyStorage
from bot.i18n import make_i18n, use_locale
from bot.isolation import PerKeyIsolation
from bot.metrics import metrics
from bot.middlewares import setup as setup_middlewares
from bot.middlewares.api_metrics import install_api_metrics

log = logging.getLogger(__name__)


async def create_app_context(
    settings: Settings, *, services: Services | None = None
) -> AppContext:
    engine = create_engine(
        settings.database_url,
        inline=True,  # SQLite statements on the loop's thread (bot/db/sqlite_inline.py)
        **pool_size_for(settings.database_url, settings.max_concurrent_updates),
    )
    sessionmaker = create_sessionmaker(engine)
    storage: BaseStorage
    isolation: BaseEventIsolation
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage
        from redis.asyncio import BlockingConnectionPool, Redis

        # Blocking: a burst of updates waits for a free connection instead of failing with
        # "Too many connections" (the default pool raises once 100 are in use).
        pool = BlockingConnectionPool.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections, timeout=30
        )
        storage = RedisStorage(
            Redis(connection_pool=pool),
            key_builder=DefaultKeyBuilder(prefix="studentbot", with_destiny=True),
        )
        isolation = storage.create_isolation()
        # issue 18: the other processes' writes reach this one's cache of hot rows
        await hotcache.of(engine).start(storage.redis)
    else:
        storage = SQLAlchemyStorage(sessionmaker)
        isolation = PerKeyIsolation()  # aiogram's SimpleEventIsolation never frees a lock
    i18n = make_i18n(settings.default_language)  # the process's one I18n
    if services is None:
        services = build_services(settings, sessionmaker, i18n, metrics)
    return AppContext(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        i18n=i18n,
        storage=storage,
        events_isolation=isolation,
        services=services,
        budget=OutgoingBudget.from_settings(settings),
    )


def create_dispatcher(ctx: AppContext) -> Dispatcher:
    from handlers import get_routers

    dp = Dispatcher(
        storage=ctx.storage,
        events_isolation=ctx.events_isolation,
        settings=ctx.settings,
        sessionmaker=ctx.sessionmaker,
        app=ctx,
        **ctx.services.by_name(),
    )
    setup_middlewares(dp, ctx)  # every middleware of ours, in order (bot/middlewares)
    dp.include_routers(*get_routers())
    inline_sync_filters(dp)  # F-filters on the loop, not one worker-thread hop each
    return dp


def create_bot(
    settings: Settings,
    *,
    session: BaseSession | None = None,
    token: str | None = None,
    budget: OutgoingBudget | None = None,
) -> Bot:
    if session is None:
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url)
            if settings.telegram_api_url
            else TelegramAPIServer.from_base("https://api.telegram.org")
        )
    bot = Bot(
        token=token or settings.token(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    # every aiogram model sets its bot in one step, not pydantic's chain of wrappers (issue 18)
    flatten_bot_context()
    install_api_metrics(bot)  # counts delivered messages and Bot API errors for /metrics
    if budget is not None:  # every send waits for its slot in the bot's shared budget
        install_budget(bot, budget)
    return bot


def bot_commands(i18n: I18n, lang: str) -> list[BotCommand]:
    """The default menu of every private chat: a student's commands (bot.menu.COMMANDS)."""
    from bot.db.models import Role
    from bot.menu import bot_commands_for

    with use_locale(i18n, lang):
        return bot_commands_for(Role.STUDENT)


# What a cosmetic call (the command menu) may meet: a Bot API error, a server lacking the
# method, a proxy's HTML error page (not JSON), a network failure or timeout.
COSMETIC_ERRORS: tuple[type[BaseException], ...] = (
    AiogramError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
)


async def register_commands(bot: Bot, i18n: I18n) -> None:
    """Cosmetic: any failure (a server without the method, a proxy's 502 page, the network) is
    logged once and start-up goes on — the bot works without its command menu."""
    calls: list[tuple[str, str | None]] = [(lang, lang) for lang in LANGUAGES]
    calls.append(("en", None))
    for lang, language_code in calls:
        try:
            await bot.set_my_commands(bot_commands(i18n, lang), language_code=language_code)
        except COSMETIC_ERRORS as exc:
            log.warning(
                "could not register the command menu (%s: %s); going on without it",
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
            return
