"""Flood control: a user who sends more than ``flood_limit`` messages within ``flood_window``
seconds gets one polite notice, the excess is dropped, everyone else is unaffected. The counts
live in Redis when the processes share one, else in the process."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.metrics import Metrics
from bot.metrics import metrics as default_metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.app import AppContext

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # over the limit: drop, and tell the user once
    DROP = "drop"  # over the limit, already told


class MemoryFloodCounter:
    """Sliding-window counts per user in this process."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._notified: set[int] = set()
        self._next_sweep = 0.0

    async def hit(self, user_id: int) -> Verdict:
        now = self.clock()
        if now >= self._next_sweep:
            # Once a window, forget users who have been quiet for a whole window: what is kept
            # is the users of the last few seconds, not everyone who ever wrote.
            self._sweep(now)
            self._next_sweep = now + self.window
        hits = self._hits.setdefault(user_id, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) < self.limit:
            hits.append(now)
            self._notified.discard(user_id)
            return Verdict.ALLOW
        if user_id in self._notified:
            return Verdict.DROP
        self._notified.add(user_id)
        return Verdict.NOTIFY

    def _sweep(self, now: float) -> None:
        for user_id in [u for u, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[user_id]
            self._notified.discard(user_id)


# Sliding window in one sorted set per user; atomic, so several processes share the count.
_REDIS_HIT = """
local key, notice = KEYS[1], KEYS[2]
local now, window, limit, member = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  redis.call('DEL', notice)
  return 0
end
if redis.call('SET', notice, '1', 'NX', 'PX', math.ceil(window * 1000)) then
  return 1
end
return 2
"""


class RedisFloodCounter:
    """The same window in Redis, shared by every process of the deployment."""

    def __init__(
        self, redis: Redis, limit: int, window: float, clock: Callable[[], float]
    ) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window
        self.clock = clock
        self._script = redis.register_script(_REDIS_HIT)
        self._seq = 0

    async def hit(self, user_id: int) -> Verdict:
        self._seq += 1
        now = self.clock()
        member = f"{now:.6f}:{id(self)}:{self._seq}"
        keys = [f"studentbot:flood:{user_id}", f"studentbot:flood-notice:{user_id}"]
        code = int(await self._script(keys=keys, args=[now, self.window, self.limit, member]))
        return (Verdict.ALLOW, Verdict.NOTIFY, Verdict.DROP)[code]


def flood_notice() -> str:
    # The messages over the limit are dropped, not queued: say so, promise no later answer.
    return _(
        "You are sending messages very fast, so I did not read your last ones. Wait a few "
        "seconds, then send your question again — one message at a time."
    )


class FloodControl(BaseMiddleware):
    """Message and callback outer middleware (after the locale is set): slow a flood down."""

    def __init__(
        self,
        counter: MemoryFloodCounter | RedisFloodCounter,
        metrics: Metrics,
        exempt: Iterable[int] = (),
    ) -> None:
        self.counter = counter
        self.metrics = metrics
        self.exempt = frozenset(exempt)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if user is None or user.is_bot or user.id in self.exempt:
            return await handler(event, data)
        if isinstance(event, Message) and event.chat.type != "private":
            return await handler(event, data)  # staff groups are not throttled
        db_user = data.get("db_user")
        if db_user is not None and getattr(db_user, "role", "student") != "student":
            return await handler(event, data)
        try:
            verdict = await self.counter.hit(user.id)
        except Exception as exc:
            log.warning("flood control unavailable: %s", exc)
            verdict = Verdict.ALLOW
        if verdict is Verdict.ALLOW:
            return await handler(event, data)
        self.metrics.throttled.inc()
        notice = flood_notice()
        with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
            if isinstance(event, CallbackQuery):
                await event.answer(notice if verdict is Verdict.NOTIFY else None)
            elif verdict is Verdict.NOTIFY and isinstance(event, Message):
                await event.answer(notice)
        return UNHANDLED


def setup_flood_control(
    dp: Dispatcher, ctx: AppContext, *, clock: Callable[[], float] = time.monotonic
) -> FloodControl | None:
    """Register flood control on messages and button presses (after the locale middleware)."""
    settings = ctx.settings
    if settings.flood_limit <= 0:
        return None
    redis = getattr(ctx.storage, "redis", None)
    counter: MemoryFloodCounter | RedisFloodCounter
    if redis is not None:
        counter = RedisFloodCounter(redis, settings.flood_limit, settings.flood_window, time.time)
    else:
        counter = MemoryFloodCounter(settings.flood_limit, settings.flood_window, clock)
    flood = FloodControl(counter, default_metrics, exempt=settings.admin_ids)
    dp.message.outer_middleware(flood)
    dp.callback_query.outer_middleware(flood)
    return flood
