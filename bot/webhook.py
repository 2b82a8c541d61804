"""Webhook mode on aiohttp: the secret-checked update endpoint, ``/healthz`` and ``/metrics``.

``/healthz`` is 200 only when the database answers **and** its schema is at this code's Alembic
head (an empty database, or one a newer or older release migrated, is a 503), Redis answers
when configured, and the process is not shutting down.

Each update is stored in the update inbox (committed) before Telegram gets its 200, and the
pipeline handles it from there (:mod:`bot.pipeline`), as with polling. The
``X-Telegram-Bot-Api-Secret-Token`` header is compared with the
configured secret in constant time; a wrong or missing one is a 401 and nothing is handled.
On shutdown the endpoint stops taking updates (``/healthz`` says 503 so a load balancer moves
on), the updates in flight finish within ``SHUTDOWN_TIMEOUT``, then the bot session closes.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlalchemy import text

from bot.app import AppContext
from bot.config import ConfigError, Settings
from bot.db.migrate import schema_head
from bot.metrics import CONTENT_TYPE_LATEST, Metrics
from bot.metrics import metrics as default_metrics
from bot.pipeline import Pipeline
from bot.reliability import Reliability
from bot.updates import describe_error, parse_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few kilobytes; files never come inline
HEALTH_TIMEOUT = 3.0

CTX_KEY: web.AppKey[AppContext] = web.AppKey("studentbot_ctx", AppContext)
RELIABILITY_KEY: web.AppKey[Reliability] = web.AppKey("studentbot_reliability", Reliability)
METRICS_KEY: web.AppKey[Metrics] = web.AppKey("studentbot_metrics", Metrics)
HANDLER_KEY: web.AppKey[SecretCheckedRequestHandler] = web.AppKey("studentbot_webhook")
HEAD_KEY: web.AppKey[str] = web.AppKey("studentbot_schema_head", str)


def webhook_secret(settings: Settings) -> str:
    """The configured secret, checked; webhook mode refuses to run without one."""
    secret = settings.webhook_secret.get_secret_value().strip() if settings.webhook_secret else ""
    if not secret:
        raise ConfigError(
            "WEBHOOK_SECRET is not set: webhook mode needs a secret (1-256 characters A-Z, a-z, "
            "0-9, _ and -), the same for every bot process"
        )
    if not SECRET_RE.match(secret):
        raise ConfigError(
            "WEBHOOK_SECRET is malformed: use 1-256 characters A-Z, a-z, 0-9, _ and -"
        )
    return secret


class SecretCheckedRequestHandler(SimpleRequestHandler):
    """aiogram's handler with a bytes-wise constant-time check, JSON checks and a drain."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        reliability: Reliability,
        shutdown_timeout: float,
        limit: int = 64,
        **data: Any,
    ) -> None:
        super().__init__(
            dispatcher=dispatcher,
            bot=bot,
            handle_in_background=True,
            secret_token=secret_token,
            **data,
        )
        self._secret = secret_token.encode()
        self.reliability = reliability
        self.shutdown_timeout = shutdown_timeout
        self.pipeline = Pipeline(dispatcher, bot, reliability.inbox, limit=limit)
        dispatcher["pipeline"] = self.pipeline
        self._stop_workers = asyncio.Event()
        self._workers: asyncio.Task[Any] | None = None

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        # Bytes, so a non-ASCII header is a mismatch rather than a TypeError (a 500).
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._secret)

    async def handle(self, request: web.Request) -> web.Response:
        if self.reliability.draining:
            return web.json_response({"ok": False, "error": "shutting down"}, status=503)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            log.warning("webhook request with a wrong or missing secret from %s", request.remote)
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            body = await request.read()
            update = json.loads(body) if len(body) <= MAX_UPDATE_BYTES else None
        except (ValueError, UnicodeDecodeError):
            update = None
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        parsed = parse_update(self.bot, update)
        if parsed is None:
            # A payload aiogram cannot read (a malformed ``message``): refused here, once,
            # rather than a stray traceback from a background task after a 200.
            reason = describe_error(update)
            log.warning(
                "webhook update %s is malformed and refused: %s", update["update_id"], reason
            )
            default_metrics.poison_updates.inc()
            try:  # kept for inspection (as "poison", pruned with the handled ones)
                await self.reliability.inbox.store(
                    self.bot.id, [update], poison={update["update_id"]: reason}
                )
            except Exception as exc:
                log.warning("could not keep malformed update %s: %s", update["update_id"], exc)
            return web.json_response({"ok": False, "error": "malformed update"}, status=400)
        try:
            # Stored (committed) before Telegram hears 200: from here it cannot be lost.
            await self.reliability.inbox.store(self.bot.id, [update])
        except Exception as exc:
            log.warning("could not store webhook update %s: %s", update["update_id"], exc)
            return web.json_response({"ok": False, "error": "try again"}, status=503)
        self.pipeline.notify()
        return web.json_response({})

    __call__ = handle

    async def wait_handled(self) -> None:
        """Until the updates accepted so far are handled (tests)."""
        await self.pipeline.wait_idle()

    async def start_workers(self) -> None:
        self._workers = asyncio.create_task(self.pipeline.run(self._stop_workers))

    async def close(self) -> None:
        """Stop taking updates and let those in flight finish (bounded); what is left stays in
        the inbox for the next start or another process.

        The bot session stays open for the dispatcher's shutdown hooks; the app closes it last.
        """
        self.reliability.draining = True
        self._stop_workers.set()
        if self._workers is not None:
            await self._workers
        await self.reliability.drain(self.shutdown_timeout, set(self.pipeline.tasks.values()))


async def _healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX_KEY]
    reliability = request.app[RELIABILITY_KEY]
    checks: dict[str, str] = {}
    healthy = True
    if reliability.draining:
        checks["process"] = "shutting down"
        healthy = False
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            async with ctx.engine.connect() as conn:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        head = request.app[HEAD_KEY]
        if revision == head:
            checks["database"] = "ok"
        else:
            # Tables missing or older than this code: the process would fail on first use.
            checks["database"] = f"schema at {revision or 'nothing'}, code needs {head}"
            healthy = False
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    redis = getattr(ctx.storage, "redis", None)
    if redis is not None:
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable: {type(exc).__name__}"
            healthy = False
    checks["in_flight"] = str(reliability.in_flight.count)
    return web.json_response(
        {"status": "ok" if healthy else "unhealthy", **checks}, status=200 if healthy else 503
    )


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def add_health_routes(
    app: web.Application,
    ctx: AppContext,
    reliability: Reliability,
    metrics: Metrics | None = None,
) -> None:
    """``GET /healthz`` (database, Redis, draining) and ``GET /metrics`` (Prometheus text)."""
    app[CTX_KEY] = ctx
    app[RELIABILITY_KEY] = reliability
    app[METRICS_KEY] = metrics if metrics is not None else default_metrics
    app[HEAD_KEY] = schema_head()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)


def build_webhook_app(
    ctx: AppContext, bot: Bot, dp: Dispatcher, *, secret: str, path: str | None = None
) -> web.Application:
    """The whole webhook server: update endpoint, health and metrics; startup and shutdown."""
    settings = ctx.settings
    reliability: Reliability = dp["reliability"]
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    handler = SecretCheckedRequestHandler(
        dp,
        bot,
        secret_token=secret,
        reliability=reliability,
        shutdown_timeout=settings.shutdown_timeout,
        limit=settings.max_concurrent_updates,
    )
    # on_shutdown runs in order: first the drain (and session close), then the dispatcher's
    # shutdown hooks (background workers stop).
    handler.register(app, path=path or settings.webhook_path)
    app[HANDLER_KEY] = handler
    add_health_routes(app, ctx, reliability)
    workflow_data = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    workflow_data.pop("bot", None)

    async def on_startup(_: web.Application) -> None:
        await dp.emit_startup(bot=bot, **workflow_data)
        await handler.start_workers()  # first what the inbox holds from before

    async def on_shutdown(_: web.Application) -> None:
        try:
            await dp.emit_shutdown(bot=bot, **workflow_data)
        finally:
            await bot.session.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app


def build_health_app(ctx: AppContext, reliability: Reliability) -> web.Application:
    """For polling mode with ``METRICS_PORT``: only ``/healthz`` and ``/metrics``."""
    app = web.Application()
    add_health_routes(app, ctx, reliability)
    return app
