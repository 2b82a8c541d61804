"""The Bot API session's middlewares: delivered messages and errors counted for ``/metrics``,
and each call of an update from the inbox recorded (:class:`bot.pipeline.CallLog`)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.metrics import Metrics
from bot.metrics import metrics as default_metrics
from bot.pipeline import CallLog

SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "sendMediaGroup",
    }
)


class ApiMetricsMiddleware(BaseRequestMiddleware):
    """Bot session middleware: counts delivered messages and Bot API / network errors."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except TelegramNetworkError:
            self.metrics.errors.labels(kind="network").inc()
            raise
        except TelegramAPIError:
            self.metrics.errors.labels(kind="telegram_api").inc()
            raise
        name = method.__api_method__
        if name in SEND_METHODS:
            self.metrics.answers.labels(method=name).inc()
        return response


def install_api_metrics(bot: Bot, metrics: Metrics | None = None) -> None:
    chosen = metrics if metrics is not None else default_metrics
    bot.session.middleware(ApiMetricsMiddleware(chosen))
    bot.session.middleware(CallLog())  # commits before each call; records inbox updates' calls
