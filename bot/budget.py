"""One outgoing budget per bot token, shared by every process, with priorities (issue 19).

Telegram lets a bot send about 30 messages a second in all, one a second to a chat (short bursts
allowed) and 20 a minute to a group. Every Bot API call of the bot passes through
:class:`OutgoingBudget`, an aiogram session middleware; calls that send or edit a message take a
slot first. Slots are kept as a sliding log ("at most ``rate`` sends in any ``window`` seconds",
the way the server counts), in Redis when ``REDIS_URL`` is set (one Lua script takes a slot
atomically for all processes) and in the process otherwise. A slot stays in the window while its
call is in flight and counts one window from the moment the call was answered (the latest
moment Telegram can have counted it): a call held up on its way cannot make a later one land in
the same second, so the window needs only a hair over a second.

Priorities (:class:`SendClass`, set by the caller in a context variable, see :func:`sending_as`):

* ``REPLY``: the answer to a user's own message or button (the default),
* ``RELAY``: the helpdesk relay and staff actions,
* ``REMINDER`` and ``BROADCAST``: background deliveries.

Replies and the relay may use the whole window. Reminders and broadcasts take only what is
left: they keep a headroom of ``BASE_RESERVE`` slots plus the replies still expected in this
window (the replies of the last ``DEMAND_WINDOW`` seconds at their pace, less those already in
the window: they are counted once), they stand aside while a reply waits for a slot, and they
are spaced on a schedule (at most ``BROADCAST_RATE`` a second). So a broadcast slows down on
its own when students are active and a reply never queues behind it. The senders of a
background class queue in their process and one at a time asks the store. Per chat: sends to a
private chat at most ``CHAT_LIMIT`` in ``CHAT_WINDOW`` seconds (and background classes one a
second), to a group ``GROUP_LIMIT`` a minute.

A 429 (``retry_after``) pauses the class that met it and the classes below it, in every process;
in a group chat only that chat (the group limit is the likely cause), and in a private chat only
that chat when the bot's own window was at most ``CHAT_429_LOAD`` full (so it cannot have been
the global limit). A reply or a relay is sent again after the pause (at most twice); a reminder
or broadcast gets the error back, so its worker puts the row back.

Why senders waited (refusals by reason and the seconds waited), how long calls were in flight
and the 429s are counted for ``/metrics`` (``studentbot_budget_*``).
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
from prometheus_client import Counter

from bot.metrics import metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.config import Settings

log = logging.getLogger(__name__)

# Telegram counts a second. A slot counts from the moment it is taken until one window after
# the Bot API answered (the latest moment Telegram can have counted the message), so a call held
# up on its way (a busy event loop, a slow network) cannot make a later one land in the same
# second; the extra 0.02 s covers clock granularity.
WINDOW = 1.02
# A slot whose call has not been answered yet is stamped this far ahead (so it stays in the
# window); one never answered (its process died, its task was cancelled) counts this long at most.
IN_FLIGHT_CAP = 60.0
IN_FLIGHT_WAIT = 0.02  # seconds to wait when the oldest slot of the window is still in flight
BASE_RESERVE = 1  # slots of each window background classes leave for replies at any time
DEMAND_WINDOW = 3.0  # seconds of reply history that set the headroom
CHAT_LIMIT, CHAT_WINDOW = 5, 5.0  # a private chat: about one a second, bursts of five
CHAT_GAP = 1.0  # background classes: one message a second to a chat
GROUP_LIMIT, GROUP_WINDOW = 20, 60.0  # a group: twenty a minute
WAITER_TTL = 0.1  # a waiting reply holds back background classes this long past its wait
STAND_ASIDE = 0.01  # seconds a background sender waits before looking again while a reply waits
# Background senders of one class in a process that ask the store at once (the others queue).
BACKGROUND_ASKERS = 4
# Background classes are spaced ``1 / BROADCAST_RATE`` apart on a schedule: a sender that wakes
# up late (a busy event loop) may catch up this many seconds of it (the window still caps them).
SPACING_CATCH_UP = 0.2
# A 429 to a chat while the bot's own window was at most this full cannot be the global limit:
# it is that chat's, and pauses only that chat.
CHAT_429_LOAD = 0.8
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
        # Slot -> when it counts from: ahead of now while in flight, then when it was answered.
        self.log: dict[int, dict[str, float]] = collections.defaultdict(dict)
        self.high: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.pause_until: dict[tuple[int, int], float] = {}
        self.next_low: dict[tuple[int, int], float] = {}
        self.waiters: dict[tuple[int, int], dict[str, float]] = collections.defaultdict(dict)
        self.chats: dict[tuple[int, int], collections.deque[float]] = {}
        self.chat_pause: dict[tuple[int, int], float] = {}
        self._sweep_at = 0.0

    def _window(self, bot_id: int, now: float, limits: Limits) -> dict[str, float]:
        slots = self.log[bot_id]
        for key in [k for k, at in slots.items() if at <= now - limits.window]:
            del slots[key]
        return slots

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
        slots = self._window(bot_id, now, limits)
        count = len(slots)
        reserve = 0
        if cls >= SendClass.REMINDER:
            for higher in range(cls):
                waiting = self.waiters.get((bot_id, higher))
                if waiting:
                    for key in [k for k, until in waiting.items() if until <= now]:
                        del waiting[key]
                    if waiting:
                        reason = "reply_waiting" if higher <= SendClass.RELAY else "reminders"
                        return Decision(False, STAND_ASIDE, reason)
            high = self.high[bot_id]
            while high and high[0] <= now - limits.demand_window:
                high.popleft()
            recent = sum(1 for at in high if at > now - limits.window)
            reserve = limits.base_reserve + expected_replies(len(high), recent, limits)
            next_at = self.next_low.get((bot_id, cls), 0.0)
            if next_at > now:
                return Decision(False, next_at - now, "spacing")
        allowed = limits.rate - reserve
        if count + cost > allowed:
            stamps = sorted(slots.values())
            index = min(max(count + cost - allowed - 1, 0), len(stamps) - 1)
            wait = limits.window
            if stamps:
                oldest = stamps[index]
                wait = IN_FLIGHT_WAIT if oldest > now else oldest + limits.window - now
            if cls < SendClass.BROADCAST:
                self.waiters[(bot_id, cls)][waiter] = now + wait + WAITER_TTL
            crowded = (
                cls >= SendClass.REMINDER and count + cost <= limits.rate - limits.base_reserve
            )
            return Decision(False, max(wait, 0.001), "reply_reserve" if crowded else "window")
        if rule is not None:
            times = self.chats.setdefault((bot_id, rule.key), collections.deque())
            while times and times[0] <= now - rule.window:
                times.popleft()
            if len(times) >= rule.limit:
                return Decision(False, times[0] + rule.window - now, "chat")
            if rule.gap and times and times[-1] + rule.gap > now:
                return Decision(False, times[-1] + rule.gap - now, "chat")
            times.append(now)
        for i in range(1, cost + 1):  # in flight: stays in the window until answered
            slots[f"{waiter}:{i}"] = now + IN_FLIGHT_CAP
        self.waiters.get((bot_id, cls), {}).pop(waiter, None)
        if cls <= SendClass.RELAY:
            self.high[bot_id].append(now)
        else:  # on the schedule, not from now: a late wake-up does not lose the pace
            scheduled = max(self.next_low.get((bot_id, cls), 0.0), now - SPACING_CATCH_UP)
            self.next_low[(bot_id, cls)] = scheduled + limits.low_interval
        return Decision(True)

    async def done(self, bot_id: int, waiter: str, cost: int) -> None:
        """The call of ``waiter``'s slots got its answer: they count from now (the latest
        moment Telegram can have counted the message) for one window."""
        now = self.clock()
        slots = self.log.get(bot_id)
        if slots is None:
            return
        for i in range(1, cost + 1):
            key = f"{waiter}:{i}"
            if key in slots:
                slots[key] = min(slots[key], now)

    async def load(self, bot_id: int, limits: Limits) -> int:
        """Slots used in the current window (in flight included)."""
        return len(self._window(bot_id, self.clock(), limits))

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


def expected_replies(last_demand_window: int, in_window: int, limits: Limits) -> int:
    """Slots background classes leave for replies still to come in this window: the replies
    of a window at the recent pace (the last ``demand_window`` seconds), less those already
    sent in it (they are in the log; counting them again starved broadcasts)."""
    demand = math.ceil(last_demand_window * limits.window / limits.demand_window)
    return max(0, demand - in_window)


# KEYS: log, high, state, wait0, wait1, wait2, chat, chatpause ('' keys are unused).
# ARGV: cls, cost, rate, window, base_reserve, demand_window, low_interval, waiter,
#       chat_limit, chat_window, chat_gap, waiter_ttl, in_flight_cap, in_flight_wait, stand_aside,
#       spacing_catch_up
_TAKE = """
local log, high, state, chat, chatpause = KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8]
local waits = {KEYS[4], KEYS[5], KEYS[6]}
local cls, cost, rate, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local base, dwin, interval, waiter = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
  ARGV[8]
local climit, cwin, cgap, wttl = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]),
  tonumber(ARGV[12])
local cap, flightwait, aside = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local catchup = tonumber(ARGV[16])
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
local reserve, nxt = 0, 0
if cls >= 2 then
  for q = 1, cls do
    redis.call('ZREMRANGEBYSCORE', waits[q], '-inf', now)
    if redis.call('ZCARD', waits[q]) > 0 then
      if q <= 2 then return {0, ms(aside), 'reply_waiting'} end
      return {0, ms(aside), 'reminders'}
    end
  end
  redis.call('ZREMRANGEBYSCORE', high, '-inf', now - dwin)
  local demand = math.ceil(redis.call('ZCARD', high) * window / dwin)
  local recent = redis.call('ZCOUNT', high, '(' .. (now - window), '+inf')
  reserve = base + math.max(0, demand - recent)
  nxt = tonumber(redis.call('HGET', state, 'next' .. cls) or '0')
  if nxt > now then return {0, ms(nxt - now), 'spacing'} end
end
local allowed = rate - reserve
if count + cost > allowed then
  local index = math.min(math.max(count + cost - allowed - 1, 0), math.max(count - 1, 0))
  local wait = window
  local e = redis.call('ZRANGE', log, index, index, 'WITHSCORES')
  if e[2] then
    if tonumber(e[2]) > now then wait = flightwait else wait = tonumber(e[2]) + window - now end
  end
  if cls < 3 then
    redis.call('ZADD', waits[cls + 1], now + wait + wttl, waiter)
    redis.call('PEXPIRE', waits[cls + 1], ms(wait + wttl + 1))
  end
  local reason = 'window'
  if cls >= 2 and count + cost <= rate - base then reason = 'reply_reserve' end
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
-- In flight: counted until answered (_DONE), at most cap seconds if its process dies.
for i = 1, cost do redis.call('ZADD', log, now + cap, waiter .. ':' .. i) end
redis.call('PEXPIRE', log, ms(window + cap + 1))
if cls < 3 then redis.call('ZREM', waits[cls + 1], waiter) end
if cls <= 1 then
  redis.call('ZADD', high, now, waiter)
  redis.call('PEXPIRE', high, ms(dwin + 1))
else
  redis.call('HSET', state, 'next' .. cls, math.max(nxt, now - catchup) + interval)
end
redis.call('PEXPIRE', state, 3600000)
return {1, 0, 'ok'}
"""

# KEYS: log. ARGV: the slots whose call was answered: they count from now for one window.
_DONE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) end
return 1
"""

# KEYS: log. ARGV: window. Slots used in the current window (in flight included).
_LOAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
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
        self._done = redis.register_script(_DONE)
        self._load = redis.register_script(_LOAD)

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
                IN_FLIGHT_CAP,
                IN_FLIGHT_WAIT,
                STAND_ASIDE,
                SPACING_CATCH_UP,
            ],
        )
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Decision(bool(int(granted)), int(wait_ms) / 1000, reason if not granted else "")

    async def done(self, bot_id: int, waiter: str, cost: int) -> None:
        """The call of ``waiter``'s slots got its answer: they count from now for one window."""
        members = [f"{waiter}:{i}" for i in range(1, cost + 1)]
        await self._done(keys=[f"{self.prefix}:{bot_id}:log"], args=members)

    async def load(self, bot_id: int, limits: Limits) -> int:
        """Slots used in the current window (in flight included)."""
        return int(await self._load(keys=[f"{self.prefix}:{bot_id}:log"], args=[limits.window]))

    async def pause(
        self, bot_id: int, cls: SendClass, seconds: float, chat_key: int | None
    ) -> None:
        p = f"{self.prefix}:{bot_id}"
        chatpause = f"{p}:chatpause:{chat_key}" if chat_key is not None else ""
        await self._pause(keys=[f"{p}:state", chatpause], args=[int(cls), seconds, len(SendClass)])

    async def aclose(self) -> None:
        await self.redis.aclose()


# --------------------------------------------------------------------------- the budget


# Counted for /metrics (and the benchmark): why senders waited for a slot and for how long.
BUDGET_SLOTS = Counter(
    "studentbot_budget_slots",
    "Slots of the outgoing budget taken, by class",
    ["cls"],
    registry=metrics.registry,
)
BUDGET_REFUSALS = Counter(
    "studentbot_budget_refusals",
    "Refused slot requests of the outgoing budget, by class and reason",
    ["cls", "reason"],
    registry=metrics.registry,
)
BUDGET_WAIT = Counter(
    "studentbot_budget_wait_seconds",
    "Seconds senders waited for a slot, by class and the reason they were refused",
    ["cls", "reason"],
    registry=metrics.registry,
)
BUDGET_REQUEST = Counter(
    "studentbot_budget_request_seconds",
    "Seconds budgeted Bot API calls were in flight (sent, not yet answered), by class",
    ["cls"],
    registry=metrics.registry,
)
BUDGET_RETRY_AFTER = Counter(
    "studentbot_budget_retry_after",
    "429s met by budgeted calls, by class and what was paused (class or chat)",
    ["cls", "scope"],
    registry=metrics.registry,
)
# Reasons a background class was held back that the progress message calls "student replies".
REPLY_REASONS = frozenset({"reply_waiting", "reply_reserve"})


@dataclass
class ClassStats:
    granted: int = 0
    retry_after: int = 0
    held: collections.Counter[str] = field(default_factory=collections.Counter)
    waited: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    request_seconds: float = 0.0
    events: collections.deque[tuple[float, str, float]] = field(
        default_factory=lambda: collections.deque(maxlen=4096)
    )


@dataclass(frozen=True)
class Slot:
    """Slots taken for one call: given back (counted from the answer on) by ``answered``."""

    waiter: str
    cost: int
    waited: float


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
        self._queues = {
            c: asyncio.Semaphore(BACKGROUND_ASKERS) for c in SendClass if c >= SendClass.REMINDER
        }

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
    ) -> Slot:
        """Wait for a slot of class ``cls`` (and for the chat's own limit). The slot counts as
        in flight until :meth:`answered`; call it when the Bot API answered (or failed).

        Background senders of a class queue in this process and ``BACKGROUND_ASKERS`` of them
        at a time ask the store (in order): sixteen delivery workers polling the store at once
        burned CPU the answers needed, while one at a time waited a Redis round trip per slot."""
        rule = chat_rule(chat_id, cls)
        waiter = f"{self._prefix}-{next(self._ids)}"
        started = self.clock()
        stats = self.stats[cls]
        name = cls.name.lower()
        queue = self._queues.get(cls)
        held = False
        try:
            while True:
                if queue is not None and not held:
                    before = self.clock()
                    await queue.acquire()
                    held = True
                    queued = self.clock() - before
                    if queued > 0:  # behind other senders of the class in this process
                        stats.waited["queue"] += queued
                        BUDGET_WAIT.labels(name, "queue").inc(queued)
                decision = await self._take(bot_id, cls, cost, rule, waiter)
                if decision.granted:
                    stats.granted += cost
                    stats.events.append((self.clock(), "sent", 0.0))
                    BUDGET_SLOTS.labels(name).inc(cost)
                    return Slot(waiter, cost, self.clock() - started)
                reason = decision.reason
                stats.held[reason] += 1
                BUDGET_REFUSALS.labels(name, reason).inc()
                if reason in REPLY_REASONS:
                    stats.events.append((self.clock(), "replies", decision.wait))
                if reason == "chat" and held:  # only this chat must wait: let the others go
                    queue.release()  # type: ignore[union-attr]
                    held = False
                before = self.clock()
                await self.sleep(min(max(decision.wait, 0.001), 1.0))
                waited = self.clock() - before
                stats.waited[reason] += waited
                BUDGET_WAIT.labels(name, reason).inc(max(waited, 0.0))
        finally:
            if held:
                queue.release()  # type: ignore[union-attr]

    async def answered(self, bot_id: int, slot: Slot) -> None:
        """The call holding ``slot`` got its answer (or failed): its slots count from now for
        one window, the latest moment Telegram can have counted it."""
        if self.store is not self.fallback:
            try:
                await self.store.done(bot_id, slot.waiter, slot.cost)
            except Exception as exc:
                log.debug("outgoing budget: slot not marked answered: %s", exc)
        await self.fallback.done(bot_id, slot.waiter, slot.cost)

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
    ) -> str:
        """A 429: pause ``cls`` and the classes below it, or only the chat when it was the
        chat's own limit: always in a group (20 a minute), and in a private chat when the bot's
        window was at most ``CHAT_429_LOAD`` full (so not the global limit). Returns what was
        paused: ``"chat"`` or ``"class"``."""
        chat_key = None
        if chat_id is not None:
            if chat_id < 0 or await self._load(bot_id) <= CHAT_429_LOAD * self.limits.rate:
                chat_key = chat_id
        scope = "class" if chat_key is None else "chat"
        self.stats[cls].retry_after += 1
        BUDGET_RETRY_AFTER.labels(cls.name.lower(), scope).inc()
        if chat_key is None:
            self.stats[cls].events.append((self.clock(), "telegram", seconds))
        with contextlib.suppress(Exception):
            await self.store.pause(bot_id, cls, seconds, chat_key)
        if self.fallback is not self.store:
            await self.fallback.pause(bot_id, cls, seconds, chat_key)
        return scope

    async def _load(self, bot_id: int) -> int:
        if self.store is not self.fallback:
            try:
                return await self.store.load(bot_id, self.limits)
            except Exception as exc:
                log.debug("outgoing budget: load not read from Redis: %s", exc)
        return await self.fallback.load(bot_id, self.limits)

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
            slot = await self.acquire(bot.id, cls, chat_id, cost=cost)
            sent_at = self.clock()
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                scope = await self.pause(bot.id, cls, float(exc.retry_after), chat_id)
                log.warning(
                    "429 on %s (%s): %s paused for %ss",
                    name,
                    cls.name.lower(),
                    "the chat" if scope == "chat" else "this class",
                    exc.retry_after,
                )
                attempt += 1
                if (
                    cls >= SendClass.REMINDER
                    or attempt > MAX_REPLY_RETRIES
                    or exc.retry_after > MAX_REPLY_RETRY_AFTER
                ):
                    raise
            finally:
                in_flight = self.clock() - sent_at
                self.stats[cls].request_seconds += in_flight
                BUDGET_REQUEST.labels(cls.name.lower()).inc(max(in_flight, 0.0))
                await self.answered(bot.id, slot)


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
