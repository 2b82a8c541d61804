"""Run the bot against Telegram: long polling, or webhook mode when ``WEBHOOK_URL`` is set.

Shutdown on SIGTERM or SIGINT, in both modes: stop taking updates, let the handlers in flight
finish (at most ``SHUTDOWN_TIMEOUT`` seconds), stop the background workers, close the bot
session, dispose of the database engine. Updates confirmed to Telegram are therefore handled;
those not yet confirmed come again after a restart and the update ledger skips the ones that
were already handled (:mod:`bot.ledger`, :mod:`bot.reliability`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import web

from bot.app import AppContext
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.factory import (
    create_app_context,
    create_bot,
    create_dispatcher,
    register_commands,
)
from bot.reliability import Reliability, polling_tasks
from bot.web.server import start_web_chat

log = logging.getLogger(__name__)


class BackgroundWorkers:
    """Starts the context's workers (:meth:`bot.app.Services.workers`: schedulers, delivery)
    and stops them."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, bot: Bot) -> None:
        for name, worker in self.ctx.services.workers().items():
            self.tasks.append(asyncio.create_task(worker.run_forever(bot), name=f"worker:{name}"))

    async def stop(self, within: float) -> None:
        """Ask each worker to finish the step in hand (a message being delivered, a reminder
        tick) and return; cancel those still running after ``within`` seconds."""
        for worker in self.ctx.services.workers().values():
            worker.request_stop()
        if self.tasks:
            _, late = await asyncio.wait(self.tasks, timeout=within)
            for task in late:
                log.warning("%s did not stop in %.0fs; cancelling it", task.get_name(), within)
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


async def prepare(settings: Settings) -> tuple[AppContext, Bot, Dispatcher, BackgroundWorkers]:
    token = settings.token()
    await upgrade(settings.database_url)
    ctx = await create_app_context(settings)
    bot = create_bot(settings, token=token, budget=ctx.budget)
    dp = create_dispatcher(ctx)
    workers = BackgroundWorkers(ctx)
    reliability: Reliability = dp["reliability"]

    async def on_startup(bot: Bot) -> None:
        await register_commands(bot, ctx.i18n)
        await workers.start(bot)

    async def on_shutdown() -> None:
        # Polling has stopped: the updates it already fetched finish before anything closes.
        finished = await reliability.drain(settings.shutdown_timeout, polling_tasks(dp))
        log.info("updates in flight %s", "finished" if finished else "cut off at the timeout")
        await workers.stop(settings.shutdown_timeout)

    dp.startup.register(on_startup)
    dp.shutdown.register(on_shutdown)
    return ctx, bot, dp, workers


async def _start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; returns the function that removes the handlers."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    def remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)

    return remove


async def run_polling(settings: Settings) -> None:
    from bot.polling import run_polling_loop
    from bot.webhook import build_health_app

    ctx, bot, dp, _workers = await prepare(settings)
    health: web.AppRunner | None = None
    webchat: web.AppRunner | None = None
    stop = asyncio.Event()
    remove_signals = _on_signals(stop)
    workflow_data = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    workflow_data.pop("bot", None)
    try:
        webchat = await start_web_chat(ctx, dp, bot)  # issue 14: /chat when WEB_CHAT_ENABLED
        if settings.metrics_port:
            health = await _start_site(
                build_health_app(ctx, dp["reliability"]),
                settings.webhook_host,
                settings.metrics_port,
            )
            log.info("/healthz and /metrics on port %s", settings.metrics_port)
        await dp.emit_startup(bot=bot, **workflow_data)
        try:
            log.info("polling for updates")
            # Bounded: updates beyond the limit stay unread at Telegram (not lost in memory).
            await run_polling_loop(dp, bot, ctx, stop=stop)
            log.info("stopping: no new updates; finishing those in flight")
        finally:
            await dp.emit_shutdown(bot=bot, **workflow_data)
            await bot.session.close()
    finally:
        remove_signals()
        if webchat is not None:
            await webchat.cleanup()
        if health is not None:
            await health.cleanup()
        await ctx.close()


async def run_webhook(settings: Settings) -> None:
    from bot.webhook import build_webhook_app, webhook_secret

    secret = webhook_secret(settings)
    ctx, bot, dp, _workers = await prepare(settings)
    stop = asyncio.Event()
    remove_signals = _on_signals(stop)
    try:
        app = build_webhook_app(ctx, bot, dp, secret=secret)
        webchat = await start_web_chat(ctx, dp, bot, webhook_app=app)  # issue 14

        async def set_hook(_: web.Application) -> None:
            await bot.set_webhook(
                url=settings.webhook_url or "",
                secret_token=secret,
                allowed_updates=dp.resolve_used_update_types(),
                drop_pending_updates=False,
            )

        app.on_startup.append(set_hook)
        runner = await _start_site(app, settings.webhook_host, settings.webhook_port)
        log.info(
            "webhook listening on %s:%s%s (also /healthz, /metrics)",
            settings.webhook_host,
            settings.webhook_port,
            settings.webhook_path,
        )
        try:
            await stop.wait()
            log.info("stopping: no new updates; finishing those in flight")
            dp["reliability"].draining = True
        finally:
            await runner.cleanup()
            if webchat is not None:
                await webchat.cleanup()
    finally:
        remove_signals()
        await ctx.close()


async def run(settings: Settings) -> None:
    if settings.webhook_url:
        await run_webhook(settings)
    else:
        await run_polling(settings)
