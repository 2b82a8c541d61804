"""Each update handled once, a clean drain on shutdown, flood control, Bot API metrics.

* :class:`UpdateLedger` claims an update's id in ``processed_updates`` with one INSERT that
  conflicts on the primary key, so of two deliveries of one update (a webhook retry, a restart
  before ``getUpdates`` confirmed the offset, the same update reaching two processes) exactly
  one is handled.
* :class:`ReliabilityMiddleware`, the first update outer middleware of ours, claims before
  anything else runs, counts updates and handler latency, and tracks the updates in flight so
  :meth:`Reliability.drain` can let them finish on SIGTERM (bounded).
* :class:`FloodControl` slows down a user who sends more than ``flood_limit`` messages within
  ``flood_window`` seconds: one polite notice, the excess dropped, everyone else unaffected.
  The counts live in Redis when the processes share one, else in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.utils.i18n import gettext as _
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import update_session, utcnow
from bot.db.models.reliability import ProcessedUpdate
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.metrics import metrics as default_metrics
from bot.pipeline import CallContext, CallLog, current_calls

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bot.app import AppContext

log = logging.getLogger(__name__)

CALL_GRACE_SECONDS = 30.0
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, ConnectionError)
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


# --------------------------------------------------------------------------- update ledger


class UpdateLedger:
    """Claims update ids in the database; a claim that conflicts means "already handled"."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retention: timedelta = timedelta(hours=48),
        prune_every: int = 1000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.retention = retention
        self.prune_every = prune_every
        self._claims = 0

    def _insert(self, dialect: str) -> Any:
        if dialect == "postgresql":
            return pg_insert(ProcessedUpdate)
        if dialect == "sqlite":
            return sqlite_insert(ProcessedUpdate)
        raise NotImplementedError(f"no atomic claim for the {dialect} dialect")

    async def claim(
        self, bot_id: int, update_id: int, session: AsyncSession | None = None
    ) -> bool:
        """True when this call claimed the update (handle it), False when it was claimed before.

        The claim is committed at once. With ``session`` (the update's own, still unused) it is
        made and committed there, which saves a connection checkout per update; on failure that
        session is rolled back, so the handler can still use it.
        """
        if session is None:
            async with self.sessionmaker() as own:
                claimed = await self._claim(own, bot_id, update_id)
        else:
            try:
                claimed = await self._claim(session, bot_id, update_id)
            except BaseException:
                with contextlib.suppress(*DB_ERRORS):
                    await session.rollback()
                raise
        if claimed:
            self._claims += 1
            if self._claims % self.prune_every == 0:
                await self.prune()
        return claimed

    async def _claim(self, session: AsyncSession, bot_id: int, update_id: int) -> bool:
        statement = (
            self._insert(session.get_bind().dialect.name)
            .values(bot_id=bot_id, update_id=update_id, claimed_at=utcnow())
            .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        )
        result = await session.execute(statement)
        await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forget a claim whose handling never ran to the end, so a redelivery is handled."""
        async with self.sessionmaker() as session:
            await session.execute(
                delete(ProcessedUpdate).where(
                    ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == update_id
                )
            )
            await session.commit()

    async def prune(self) -> int:
        """Delete claims older than the retention window (Telegram keeps updates for a day)."""
        cutoff = utcnow() - self.retention
        try:
            async with self.sessionmaker() as session:
                result = await session.execute(
                    delete(ProcessedUpdate).where(ProcessedUpdate.claimed_at < cutoff)
                )
                await session.commit()
        except DB_ERRORS as exc:
            log.warning("could not prune processed updates: %s", exc)
            return 0
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- in flight


class InFlight:
    """Counts the updates being handled; ``wait_idle`` returns when none is left."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def exit(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.count = 0
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


class ReliabilityMiddleware(BaseMiddleware):
    """Update outer middleware: claim the update, then handle it, timed and tracked.

    An update from the inbox (``inbox_attempt`` in the data, see :mod:`bot.pipeline`) is not
    claimed in the ledger — its inbox row is the claim — and the Bot API calls made for it are
    recorded, and on a later attempt answered from the record.
    """

    def __init__(
        self, ledger: UpdateLedger, in_flight: InFlight, metrics: Metrics, inbox: Inbox
    ) -> None:
        self.ledger = ledger
        self.in_flight = in_flight
        self.metrics = metrics
        self.inbox = inbox
        self.call_tasks: set[asyncio.Task[Any]] = set()  # calls outliving a cut-off handler

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        bot: Bot = data["bot"]
        self.in_flight.enter()
        self.metrics.in_flight.inc()
        try:
            # The update's database session opens here (it costs nothing until used): the claim
            # is made in it, and DbSessionMiddleware hands it to the handlers and commits it, all
            # inside what counts as in flight, so a drain on shutdown waits for that commit too.
            async with self.ledger.sessionmaker() as session:
                data["session"] = session
                token = update_session.set(session)  # the FSM storage writes through it
                try:
                    return await self._handle(handler, event, data, bot, session)
                finally:
                    update_session.reset(token)
        finally:
            self.metrics.in_flight.dec()
            self.in_flight.exit()

    async def _handle(
        self,
        handler: Handler,
        event: Update,
        data: dict[str, Any],
        bot: Bot,
        session: AsyncSession,
    ) -> Any:
        attempt: int | None = data.get("inbox_attempt")
        if attempt is None and not await self._claim(bot, event, session):
            return UNHANDLED
        self.metrics.count_update(event.event_type)
        calls = CallContext(
            bot_id=bot.id,
            update_id=event.update_id,
            session=session,
            sessionmaker=self.ledger.sessionmaker,
            record=attempt is not None,
            in_flight=self.call_tasks,
        )
        if attempt is not None and attempt > 1:
            self.metrics.retaken_updates.inc()
            calls.replay = await self.inbox.calls_made(bot.id, event.update_id)
        event = without_nul(event)
        started = time.perf_counter()
        token = current_calls.set(calls)
        try:
            return await handler(event, data)
        except asyncio.CancelledError:
            # Cut off by shutdown: if the update comes again it must be handled then.
            with contextlib.suppress(*DB_ERRORS, asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(2):
                    if attempt is None:
                        await asyncio.shield(self.ledger.release(bot.id, event.update_id))
                    else:
                        await asyncio.shield(self.inbox.release(bot.id, event.update_id))
            raise
        except Exception as exc:
            self.metrics.errors.labels(kind="handler").inc()
            if attempt is not None:
                # Not retried: the error handler tells the user; the row says what happened.
                with contextlib.suppress(*DB_ERRORS):
                    await self.inbox.mark_failed(bot.id, event.update_id, repr(exc))
            raise
        finally:
            current_calls.reset(token)
            self.metrics.handler_latency.observe(time.perf_counter() - started)

    async def _claim(self, bot: Bot, event: Update, session: AsyncSession) -> bool:
        try:
            claimed = await self.ledger.claim(bot.id, event.update_id, session)
        except DB_ERRORS as exc:
            # The database is down: handle anyway, so the user hears about it (the handler
            # fails and the error handler explains) rather than the update vanishing.
            self.metrics.errors.labels(kind="database").inc()
            log.warning("could not record update %s: %s", event.update_id, exc)
            claimed = True
        if not claimed:
            self.metrics.duplicate_updates.inc()
            log.info("update %s was handled before; skipped", event.update_id)
        return claimed


def without_nul(update: Update) -> Update:
    """The update with NUL characters removed from message texts and captions.

    Telegram passes them through; PostgreSQL refuses them in text columns, so a question
    containing one would fail to be stored. Nothing else is altered.
    """
    message = update.message or update.edited_message
    if message is None:
        return update
    changes = {
        name: value.replace("\x00", "")
        for name in ("text", "caption")
        if isinstance(value := getattr(message, name), str) and "\x00" in value
    }
    if not changes:
        return update
    field = "message" if update.message is not None else "edited_message"
    return update.model_copy(update={field: message.model_copy(update=changes)})


class Reliability:
    """The per-dispatcher pieces: the ledger, what is in flight, and the drain on shutdown."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        metrics: Metrics | None = None,
        retention: timedelta = timedelta(hours=48),
        lease_seconds: float = 60.0,
    ) -> None:
        self.metrics = metrics if metrics is not None else default_metrics
        self.ledger = UpdateLedger(sessionmaker, retention=retention)
        self.inbox = Inbox(sessionmaker, lease_seconds=lease_seconds, retention=retention)
        self.in_flight = InFlight()
        self.middleware = ReliabilityMiddleware(
            self.ledger, self.in_flight, self.metrics, self.inbox
        )
        self.draining = False

    async def drain(self, within: float, tasks: Iterable[asyncio.Task[Any]] = ()) -> bool:
        """Let started handlers finish, at most ``within`` seconds; then cancel the rest.

        ``tasks`` are the update tasks the polling loop or the webhook handler started (some
        may not have reached the middleware yet). True when everything finished in time.
        """
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        pending = {task for task in tasks if not task.done()}
        if pending:
            log.info("waiting for %d update(s) in flight", len(pending))
            _, pending = await asyncio.wait(pending, timeout=max(deadline - loop.time(), 0))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(deadline - loop.time(), 0)):
                await self.in_flight.wait_idle()
        if not pending and self.in_flight.count == 0:
            return True
        log.warning(
            "shutdown: %d update(s) still running after %.0fs; cancelling them",
            max(len(pending), self.in_flight.count),
            within,
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # A Bot API call those handlers had in progress finishes and is recorded, so the update,
        # handled again after the restart, does not make it twice (bounded by the HTTP timeout).
        calls = set(self.middleware.call_tasks)
        if calls:
            log.info("letting %d Bot API call(s) in progress finish", len(calls))
            await asyncio.wait(calls, timeout=CALL_GRACE_SECONDS)
        return False


def polling_tasks(dp: Dispatcher) -> set[asyncio.Task[Any]]:
    """The update tasks the polling loop (:mod:`bot.polling`, or aiogram's) started and has not
    finished."""
    tasks: set[asyncio.Task[Any]] = set(getattr(dp, "_handle_update_tasks", ()))
    for name in ("poller", "pipeline"):
        running = getattr(dp.workflow_data.get(name), "tasks", ())
        tasks |= set(running.values() if isinstance(running, dict) else running)
    return tasks


# --------------------------------------------------------------------------- flood control


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


# --------------------------------------------------------------------------- Bot API metrics


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


# --------------------------------------------------------------------------- wiring


def setup_reliability(dp: Dispatcher, ctx: AppContext) -> Reliability:
    """Register the claim middleware; call before any other update outer middleware of ours."""
    settings = ctx.settings
    reliability = Reliability(
        ctx.sessionmaker,
        retention=timedelta(hours=settings.processed_updates_retention_hours),
        lease_seconds=settings.update_lease_seconds,
    )
    dp.update.outer_middleware(reliability.middleware)
    dp["reliability"] = reliability
    return reliability


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


def install_api_metrics(bot: Bot, metrics: Metrics | None = None) -> None:
    chosen = metrics if metrics is not None else default_metrics
    bot.session.middleware(ApiMetricsMiddleware(chosen))
    bot.session.middleware(CallLog())  # commits before each call; records inbox updates' calls


# --------------------------------------------------------------------------- throughput


def inline_magic_filters(dp: Dispatcher) -> int:
    """Evaluate synchronous filters inline instead of in a worker thread; returns how many.

    aiogram runs every synchronous callable through ``asyncio.to_thread``, filters such as
    ``F.chat.type == "private"`` or a ``State`` included: dozens of thread hops per update,
    most of the assistant's per-update cost. Filters are predicates on the event (magic
    filters, states, small functions), so running them on the event loop is safe and much
    faster; synchronous *handlers* keep aiogram's behaviour (they may block).
    """
    count = 0
    for router in dp.chain_tail:
        for observer in router.observers.values():
            handlers = [getattr(observer, "_handler", None), *observer.handlers]
            for handler in handlers:
                for flt in getattr(handler, "filters", None) or ():
                    if flt.awaitable:
                        continue
                    flt.callback = _inline(flt.callback)
                    flt.awaitable = True
                    count += 1
    return count


def _inline(resolve: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return resolve(*args, **kwargs)

    return inline
