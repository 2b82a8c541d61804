"""Run the bot against Telegram: long polling, or webhook mode when ``WEBHOOK_URL`` is set."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher

from bot.config import Settings
from bot.db.migrate import upgrade
from bot.factory import AppContext, create_app_context, create_bot, create_dispatcher, register_commands

log = logging.getLogger(__name__)


class BackgroundWorkers:
    """Starts each service that has ``run_forever(bot)`` (schedulers, delivery) and stops them."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, bot: Bot) -> None:
        for name, service in self.ctx.services.items():
            runner = getattr(service, "run_forever", None)
            if runner is not None:
                self.tasks.append(asyncio.create_task(runner(bot), name=f"worker:{name}"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


async def prepare(settings: Settings) -> tuple[AppContext, Bot, Dispatcher, BackgroundWorkers]:
    token = settings.token()
    await upgrade(settings.database_url)
    ctx = await create_app_context(settings)
    bot = create_bot(settings, token=token)
    dp = create_dispatcher(ctx)
    workers = BackgroundWorkers(ctx)

    async def on_startup(bot: Bot) -> None:
        await register_commands(bot, ctx.i18n)
        await workers.start(bot)

    async def on_shutdown() -> None:
        await workers.stop()

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return ctx, bot, dp, workers


async def run_polling(settings: Settings) -> None:
    ctx, bot, dp, _workers = await prepare(settings)
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot, handle_signals=True, close_bot_session=True)
    finally:
        await ctx.close()


async def run_webhook(settings: Settings) -> None:
    from aiohttp import web
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    ctx, bot, dp, _workers = await prepare(settings)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(
        app, path=settings.webhook_path
    )
    setup_application(app, dp, bot=bot)

    async def set_hook(_: web.Application) -> None:
        await bot.set_webhook(
            url=settings.webhook_url or "", secret_token=secret, drop_pending_updates=False
        )

    app.on_startup.append(set_hook)
    runner = web.AppRunner(app, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    try:
        await site.start()
        log.info("webhook listening on %s:%s%s", settings.webhook_host, settings.webhook_port, settings.webhook_path)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await ctx.close()


async def run(settings: Settings) -> None:
    if settings.webhook_url:
        await run_webhook(settings)
    else:
        await run_polling(settings)
