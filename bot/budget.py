"""One outgoing budget per bot token, shared by every process, with priorities (issue 19).

Telegram lets a bot send about 30 messages a second in all, one a second to a chat (short bursts
allowed) and 20 a minute to a group. Every Bot API call of the bot passes through
:class:`OutgoingBudget`, an aiogram session middleware; calls that send or edit a message take a
slot first. Slots are kept as a sliding log ("at most ``rate`` sends in any ``window`` seconds",
the way the server counts), in Redis when ``REDIS_URL`` is set (one Lua script takes a slot
atomically for all processes) and in the process otherwise.

Priorities (:class:`SendClass`, set by the caller in a context variable, see :func:`sending_as`):

* ``REPLY``: the answer to a user's own message or button (the default),
* ``RELAY``: the helpdesk relay and staff actions,
* ``REMINDER`` and ``BROADCAST``: background deliveries.

Replies and the relay may use the whole window. Reminders and broadcasts take only what is
left: they keep a headroom of ``BASE_RESERVE`` slots plus the replies of the last window (the
recent reply demand), they wait while a reply waits, and they are spaced evenly (at most
``BROADCAST_RATE`` a second). So a broadcast slows down on its own when students are active and
a reply never queues behind it. Per chat: sends to a private chat at most ``CHAT_LIMIT`` in
``CHAT_WINDOW`` seconds (and background classes one a second), to a group ``GROUP_LIMIT`` a
minute.

A 429 (``retry_after``) pauses the class that met it and the classes below it, in every process
(in a group chat only that chat: the group limit is the likely cause). A reply or a relay is
sent again after the pause (at most twice); a reminder or broadcast gets the error back, so its
worker puts the row back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import Settings

log = logging.getLogger(__name__)

WINDOW = 1.1  # seconds: Telegram counts a second; the extra 0.1 s absorbs network jitter
BASE_RESERVE = 1  # slots of each window background classes leave for replies at any time
DEMAND_WINDOW = 3.0  # seconds of reply history that set the headroom
CHAT_LIMIT, CHAT_WINDOW = 5, 5.0  # a private chat: about one a second, bursts of five
CHAT_GAP = 1.0  # background classes: one message a second to a chat
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0  # a group: twenty a minute
WAITER_TTL = 0.5  # a waiting reply holds back background classes this long past its wait
MAX_REPLY_RETRIES = 2
MAX_REPLY_RETRY_AFTER = 30

# Methods that put a message into a chat (Telegram's limits) or change one (counted globally).
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendVenue",
        "sendMediaGroup",
        "copyMessage",
        "forwardMessage",
    }
)
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)


class SendClass(IntEnum):
    """Priority of an outgoing call; lower is more urgent."""

    REPLY = 0
    RELAY = 1
    REMINDER = 2
    BROADCAST = 3


_current: ContextVar[SendClass] = ContextVar("send_class", default=SendClass.REPLY)


@contextlib.contextmanager
def sending_as(cls: SendClass) -> Iterator[None]:
    """Calls made inside (and in tasks started inside) count as ``cls``."""
    token = _current.set(cls)
    try:
        yield
    finally:
        _current.reset(token)


def current_class() -> SendClass:
    return _current.get()


@dataclass(frozen=True)
class Limits:
    rate: int  # slots in any window
    window: float
    base_reserve: int
    demand_window: float
    low_interval: float  # background classes: seconds between two takes of one class


@dataclass(frozen=True)
class Decision:
    granted: bool
    wait: float = 0.0
    reason: str = ""  # telegram, chat, window, replies, spacing


@dataclass(frozen=True)
class ChatRule:
    key: int
    limit: int
    window: float
    gap: float  # minimum seconds since the chat's last send


def chat_rule(chat_id: int | None, cls: SendClass) -> ChatRule | None:
    if chat_id is None:
        return None
    if chat_id < 0:
        return ChatRule(chat_id, GROUP_LIMIT, GROUP_WINDOW, 0.0)
    gap = CHAT_GAP if cls >= SendClass.REMINDER else 0.0
    return ChatRule(chat_id, CHAT_LIMIT, CHAT_WINDOW, gap)


# --------------------------------------------------------------------------- stores


class MemoryStore:
    """The sliding log in this process (one process, or Redis unreachable)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.log: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.high: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.pause_until: dict[tuple[int, int], float] = {}
        self.next_low: dict[tuple[int, int], float] = {}
        self.waiters: dict[tuple[int, int], dict[str, float]] = collections.defaultdict(dict)
        self.chats: dict[tuple[int, int], collections.deque[float]] = {}
        self.chat_pause: dict[tuple[int, int], float] = {}
        self._sweep_at = 0.0

    async def take(
        self,
        bot_id: int,
        cls: SendClass,
        cost: int,
        limits: Limits,
        rule: ChatRule | None,
        waiter: str,
    ) -> Decision:
        now = self.clock()
        if now >= self._sweep_at:
            self._sweep(now)
        pause = self.pause_until.get((bot_id, cls), 0.0)
        if pause > now:
            return Decision(False, pause - now, "telegram")
        if rule is not None:
            chat_pause = self.chat_pause.get((bot_id, rule.key), 0.0)
            if chat_pause > now:
                return Decision(False, chat_pause - now, "chat")
        log_ = self.log[bot_id]
        while log_ and log_[0] <= now - limits.window:
            log_.popleft()
        reserve = 0
        if cls >= SendClass.REMINDER:
            for higher in range(cls):
                waiting = self.waiters.get((bot_id, higher))
                if waiting:
                    for key in [k for k, until in waiting.items() if until <= now]:
                        del waiting[key]
                    if waiting:
                        reason = "replies" if higher <= SendClass.RELAY else "reminders"
                        return Decision(False, 0.02, reason)
            high = self.high[bot_id]
            while high and high[0] <= now - limits.demand_window:
                high.popleft()
            demand = math.ceil(len(high) * limits.window / limits.demand_window)
            reserve = limits.base_reserve + demand
            next_at = self.next_low.get((bot_id, cls), 0.0)
            if next_at > now:
                return Decision(False, next_at - now, "spacing")
        allowed = limits.rate - reserve
        if len(log_) + cost > allowed:
            index = min(max(len(log_) + cost - allowed - 1, 0), len(log_) - 1)
            wait = log_[index] + limits.window - now if log_ else limits.window
            if cls < SendClass.BROADCAST:
                self.waiters[(bot_id, cls)][waiter] = now + wait + WAITER_TTL
            base_only = limits.rate - limits.base_reserve
            crowded = cls >= SendClass.REMINDER and len(log_) + cost <= base_only
            return Decision(False, max(wait, 0.001), "replies" if crowded else "window")
        if rule is not None:
            times = self.chats.setdefault((bot_id, rule.key), collections.deque())
            while times and times[0] <= now - rule.window:
                times.popleft()
            if len(times) >= rule.limit:
                return Decision(False, times[0] + rule.window - now, "chat")
            if rule.gap and times and times[-1] + rule.gap > now:
                return Decision(False, times[-1] + rule.gap - now, "chat")
            times.append(now)
        log_.extend([now] * cost)
        self.waiters.get((bot_id, cls), {}).pop(waiter, None)
        if cls <= SendClass.RELAY:
            self.high[bot_id].append(now)
        else:
            self.next_low[(bot_id, cls)] = now + limits.low_interval
        return Decision(True)

    async def pause(
        self, bot_id: int, cls: SendClass, seconds: float, chat_key: int | None
    ) -> None:
        until = self.clock() + seconds
        if chat_key is not None:
            key = (bot_id, chat_key)
            self.chat_pause[key] = max(self.chat_pause.get(key, 0.0), until)
            return
        for lower in SendClass:
            if lower >= cls:
                k = (bot_id, lower)
                self.pause_until[k] = max(self.pause_until.get(k, 0.0), until)

    def _sweep(self, now: float) -> None:
        self._sweep_at = now + 30.0
        for key in [k for k, t in self.chats.items() if not t or t[-1] <= now - GROUP_WINDOW]:
            del self.chats[key]
        for key in [k for k, until in self.chat_pause.items() if until <= now]:
            del self.chat_pause[key]

    async def aclose(self) -> None:
        return None


# KEYS: log, high, state, wait0, wait1, wait2, chat, chatpause ('' keys are unused).
# ARGV: cls, cost, rate, window, base_reserve, demand_window, low_interval, waiter,
#       chat_limit, chat_window, chat_gap, waiter_ttl
_TAKE = """
local log, high, state, chat, chatpause = KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8]
local waits = {KEYS[4], KEYS[5], KEYS[6]}
local cls, cost, rate, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local base, dwin, interval, waiter = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  ARGV[8]
local climit, cwin, cgap, wttl = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]),
  tonumber(ARGV[12])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function ms(s) return math.max(1, math.ceil(s * 1000)) end
local pause = tonumber(redis.call('HGET', state, 'pause' .. cls) or '0')
if pause > now then return {0, ms(pause - now), 'telegram'} end
if chat ~= '' then
  local pt = redis.call('PTTL', chatpause)
  if pt > 0 then return {0, pt, 'chat'} end
end
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
local count = redis.call('ZCARD', log)
local reserve = 0
if cls >= 2 then
  for q = 1, cls do
    redis.call('ZREMRANGEBYSCORE', waits[q], '-inf', now)
    if redis.call('ZCARD', waits[q]) > 0 then
      if q <= 2 then return {0, 20, 'replies'} end
      return {0, 20, 'reminders'}
    end
  end
  redis.call('ZREMRANGEBYSCORE', high, '-inf', now - dwin)
  local demand = math.ceil(redis.call('ZCARD', high) * window / dwin)
  reserve = base + demand
  local nxt = tonumber(redis.call('HGET', state, 'next' .. cls) or '0')
  if nxt > now then return {0, ms(nxt - now), 'spacing'} end
end
local allowed = rate - reserve
if count + cost > allowed then
  local index = math.min(math.max(count + cost - allowed - 1, 0), math.max(count - 1, 0))
  local wait = window
  local e = redis.call('ZRANGE', log, index, index, 'WITHSCORES')
  if e[2] then wait = tonumber(e[2]) + window - now end
  if cls < 3 then
    redis.call('ZADD', waits[cls + 1], now + wait + wttl, waiter)
    redis.call('PEXPIRE', waits[cls + 1], ms(wait + wttl + 1))
  end
  local reason = 'window'
  if cls >= 2 and count + cost <= rate - base then reason = 'replies' end
  return {0, ms(wait), reason}
end
if chat ~= '' then
  redis.call('ZREMRANGEBYSCORE', chat, '-inf', now - cwin)
  local cc = redis.call('ZCARD', chat)
  if cc >= climit then
    local e = redis.call('ZRANGE', chat, 0, 0, 'WITHSCORES')
    return {0, ms(tonumber(e[2]) + cwin - now), 'chat'}
  end
  if cgap > 0 and cc > 0 then
    local e = redis.call('ZRANGE', chat, -1, -1, 'WITHSCORES')
    if tonumber(e[2]) + cgap > now then return {0, ms(tonumber(e[2]) + cgap - now), 'chat'} end
  end
  redis.call('ZADD', chat, now, waiter)
  redis.call('PEXPIRE', chat, ms(cwin))
end
for i = 1, cost do redis.call('ZADD', log, now, waiter .. ':' .. i) end
redis.call('PEXPIRE', log, ms(window + 1))
if cls < 3 then redis.call('ZREM', waits[cls + 1], waiter) end
if cls <= 1 then
  redis.call('ZADD', high, now, waiter)
  redis.call('PEXPIRE', high, ms(dwin + 1))
else
  redis.call('HSET', state, 'next' .. cls, now + interval)
end
redis.call('PEXPIRE', state, 3600000)
return {1, 0, 'ok'}
"""

# KEYS: state, chatpause ('' unused). ARGV: cls, seconds, classes count
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cls, seconds = tonumber(ARGV[1]), tonumber(ARGV[2])
if KEYS[2] ~= '' then
  redis.call('SET', KEYS[2], '1', 'PX', math.max(1, math.ceil(seconds * 1000)))
  return 1
end
for c = cls, tonumber(ARGV[3]) - 1 do
  local old = tonumber(redis.call('HGET', KEYS[1], 'pause' .. c) or '0')
  if now + seconds > old then redis.call('HSET', KEYS[1], 'pause' .. c, now + seconds) end
end
redis.call('PEXPIRE', KEYS[1], 3600000)
return 1
"""


class RedisStore:
    """The same log in Redis: one budget for every process of the deployment."""

    def __init__(self, redis: Redis, prefix: str = "studentbot:budget") -> None:
        self.redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)
        self._pause = redis.register_script(_PAUSE)

    def _keys(self, bot_id: int, rule: ChatRule | None) -> list[str]:
        p = f"{self.prefix}:{bot_id}"
        chat = f"{p}:chat:{rule.key}" if rule is not None else ""
        chatpause = f"{p}:chatpause:{rule.key}" if rule is not None else ""
        waits = [f"{p}:wait{c}" for c in range(3)]
        return [f"{p}:log", f"{p}:high", f"{p}:state", *waits, chat, chatpause]

    async def take(
        self,
        bot_id: int,
        cls: SendClass,
        cost: int,
        limits: Limits,
        rule: ChatRule | None,
        waiter: str,
    ) -> Decision:
        granted, wait_ms, reason = await self._take(
            keys=self._keys(bot_id, rule),
            args=[
                int(cls),
                cost,
                limits.rate,
                limits.window,
                limits.base_reserve,
                limits.demand_window,
                limits.low_interval,
                waiter,
                rule.limit if rule else 0,
                rule.window if rule else 0,
                rule.gap if rule else 0,
                WAITER_TTL,
            ],
        )
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Decision(bool(int(granted)), int(wait_ms) / 1000, reason if not granted else "")

    async def pause(
        self, bot_id: int, cls: SendClass, seconds: float, chat_key: int | None
    ) -> None:
        p = f"{self.prefix}:{bot_id}"
        chatpause = f"{p}:chatpause:{chat_key}" if chat_key is not None else ""
        await self._pause(keys=[f"{p}:state", chatpause], args=[int(cls), seconds, len(SendClass)])

    async def aclose(self) -> None:
        await self.redis.aclose()


# --------------------------------------------------------------------------- the budget


@dataclass
class ClassStats:
    granted: int = 0
    retry_after: int = 0
    held: collections.Counter[str] = field(default_factory=collections.Counter)
    events: collections.deque[tuple[float, str, float]] = field(
        default_factory=lambda: collections.deque(maxlen=4096)
    )


class OutgoingBudget(BaseRequestMiddleware):
    """The session middleware every Bot API call of a bot passes through."""

    def __init__(
        self,
        store: MemoryStore | RedisStore,
        *,
        rate: float = 30.0,
        broadcast_rate: float = 30.0,
        window: float = WINDOW,
        base_reserve: int = BASE_RESERVE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.fallback = store if isinstance(store, MemoryStore) else MemoryStore(clock)
        low_rate = max(min(broadcast_rate, rate), 0.1)
        self.limits = Limits(
            rate=max(int(rate), 1),
            window=window,
            base_reserve=base_reserve,
            demand_window=DEMAND_WINDOW,
            low_interval=1.0 / low_rate,
        )
        self.clock = clock
        self.sleep = sleep
        self.stats: dict[SendClass, ClassStats] = {c: ClassStats() for c in SendClass}
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-{id(self) % 100000}"
        self._store_failed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> OutgoingBudget:
        store: MemoryStore | RedisStore
        if settings.redis_url:
            from redis.asyncio import Redis

            store = RedisStore(Redis.from_url(settings.redis_url))
        else:
            store = MemoryStore()
        return cls(store, rate=settings.bot_api_rate, broadcast_rate=settings.broadcast_rate)

    async def aclose(self) -> None:
        await self.store.aclose()

    # Taking a slot ---------------------------------------------------------------------------

    async def acquire(
        self, bot_id: int, cls: SendClass, chat_id: int | None = None, *, cost: int = 1
    ) -> float:
        """Wait for a slot of class ``cls`` (and for the chat's own limit); returns the wait."""
        rule = chat_rule(chat_id, cls)
        waiter = f"{self._prefix}-{next(self._ids)}"
        started = self.clock()
        stats = self.stats[cls]
        while True:
            decision = await self._take(bot_id, cls, cost, rule, waiter)
            if decision.granted:
                stats.granted += cost
                stats.events.append((self.clock(), "sent", 0.0))
                return self.clock() - started
            stats.held[decision.reason] += 1
            if decision.reason == "replies":
                stats.events.append((self.clock(), decision.reason, decision.wait))
            await self.sleep(min(max(decision.wait, 0.001), 1.0))

    async def _take(
        self, bot_id: int, cls: SendClass, cost: int, rule: ChatRule | None, waiter: str
    ) -> Decision:
        if self.store is self.fallback:
            return await self.store.take(bot_id, cls, cost, self.limits, rule, waiter)
        try:
            decision = await self.store.take(bot_id, cls, cost, self.limits, rule, waiter)
        except (OSError, ConnectionError, TimeoutError) as exc:
            self._note_store_failure(exc)
        except Exception as exc:  # redis.exceptions.RedisError and kin
            if type(exc).__module__.split(".")[0] != "redis":
                raise
            self._note_store_failure(exc)
        else:
            if self._store_failed:
                self._store_failed = False
                log.info("outgoing budget: Redis is back; the budget is shared again")
            return decision
        return await self.fallback.take(bot_id, cls, cost, self.limits, rule, waiter)

    def _note_store_failure(self, exc: BaseException) -> None:
        if not self._store_failed:
            self._store_failed = True
            log.warning("outgoing budget: Redis unavailable (%s); budgeting in this process", exc)

    async def pause(
        self, bot_id: int, cls: SendClass, seconds: float, chat_id: int | None = None
    ) -> None:
        """A 429: pause ``cls`` and the classes below it (in a group: only that chat)."""
        chat_key = chat_id if chat_id is not None and chat_id < 0 else None
        self.stats[cls].retry_after += 1
        if chat_key is None:
            self.stats[cls].events.append((self.clock(), "telegram", seconds))
        with contextlib.suppress(Exception):
            await self.store.pause(bot_id, cls, seconds, chat_key)
        if self.fallback is not self.store:
            await self.fallback.pause(bot_id, cls, seconds, chat_key)

    # What a progress message says ------------------------------------------------------------

    def slowdown(self, cls: SendClass, period: float) -> str | None:
        """Why ``cls`` went slower than it could in the last ``period`` seconds, if it did:
        ``"paused_replies"`` (nothing sent, replies first), ``"slowed_replies"``,
        ``"telegram"`` (a 429 pause), or None."""
        now = self.clock()
        since = now - period
        events = [e for e in self.stats[cls].events if e[0] >= since]
        if any(reason == "telegram" for _at, reason, _wait in events):
            return "telegram"
        # The share of the period some sender of the class stood aside for replies (the union
        # of those waits): a moment's wait behind an answer is not worth mentioning.
        held = sorted(
            (at, min(at + wait, now)) for at, reason, wait in events if reason == "replies"
        )
        covered, reach = 0.0, since
        for start, end in held:
            start = max(start, reach)
            if end > start:
                covered += end - start
                reach = end
        if covered < 0.2 * period:
            return None
        sent = sum(1 for _at, reason, _wait in events if reason == "sent")
        return "paused_replies" if sent == 0 else "slowed_replies"

    # The middleware --------------------------------------------------------------------------

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        if name not in SEND_METHODS and name not in EDIT_METHODS:
            return await make_request(bot, method)
        cls = current_class()
        chat_id = _chat_id(method) if name in SEND_METHODS else None
        if cls == SendClass.REPLY and chat_id is not None and chat_id < 0:
            cls = SendClass.RELAY  # the staff chat: the helpdesk relay, application cards
        cost = (len(getattr(method, "media", None) or ()) or 1) if name == "sendMediaGroup" else 1
        attempt = 0
        while True:
            await self.acquire(bot.id, cls, chat_id, cost=cost)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                await self.pause(bot.id, cls, float(exc.retry_after), chat_id)
                log.warning(
                    "429 on %s (%s): %s paused for %ss",
                    name,
                    cls.name.lower(),
                    "the chat" if chat_id is not None and chat_id < 0 else "this class",
                    exc.retry_after,
                )
                attempt += 1
                if (
                    cls >= SendClass.REMINDER
                    or attempt > MAX_REPLY_RETRIES
                    or exc.retry_after > MAX_REPLY_RETRY_AFTER
                ):
                    raise


def _chat_id(method: TelegramMethod[Any]) -> int | None:
    value = getattr(method, "chat_id", None)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def install_budget(bot: Bot, budget: OutgoingBudget) -> None:
    bot.session.middleware(budget)


def budget_of(bot: Bot) -> OutgoingBudget | None:
    """The budget installed on ``bot``'s session (or the session a wrapper such as the web
    chat's passes Telegram's calls to), if any."""
    session: Any = bot.session
    while session is not None:
        for middleware in session.middleware:
            if isinstance(middleware, OutgoingBudget):
                return middleware
        session = getattr(session, "inner", None)
    return None


class SendClassMiddleware(BaseMiddleware):
    """Update outer middleware: what staff do in a group (the staff chat) counts as ``RELAY``;
    everything else a handler sends answers the user's own message, ``REPLY``."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        if chat is not None and chat.type in ("group", "supergroup"):
            with sending_as(SendClass.RELAY):
                return await handler(event, data)
        with sending_as(SendClass.REPLY):
            return await handler(event, data)
