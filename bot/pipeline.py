"""Handling updates from the inbox: workers with leases, and a record of the calls made.

:class:`Pipeline` takes pending rows from :class:`bot.inbox.Inbox` (as many as there are free
slots), feeds each to the dispatcher, and renews the leases of those in hand. It wakes when
the poller or the webhook stores new updates, and looks again every ``poll_interval`` seconds
for rows whose lease ran out (another process died). At start it first finishes what the
inbox holds.

:class:`CallLog` (a Bot API request middleware) records each call made while an update is
handled — ``update_calls``, keyed by the update and the call's number within its handling — so
when an update is handled again after a crash or a stop, the calls already made are answered
from the record and not sent twice. Before each call the update's session is committed: what
the handler wrote is stored before the user is told about it, and SQLite's writer is free
while Telegram answers. A call's record joins the update's next commit: the one before its
next call; the calls made after that are not recorded at all when the update's last commit
marks its inbox row done (a done update is never taken again, so those records would never be
read — issue 18: one INSERT and one serialised result less per update). A call in progress
when shutdown cuts its handler off is allowed to finish and is recorded (the handler is
cancelled around it). A call in the air when the process is killed has no record: the next
attempt makes it again (Telegram cannot be asked whether it arrived), so that one call is at
least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from pydantic import BaseModel
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.aiogram_compat import replayed_result
from bot.db.base import utcnow
from bot.db.models.reliability import UpdateCall
from bot.inbox import Claimed, Inbox
from bot.updates import describe_error, parse_update

log = logging.getLogger(__name__)

# Calls that change nothing a user sees, or belong to the process rather than an update.
UNRECORDED = frozenset({"setMyCommands", "deleteMyCommands", "sendChatAction"})

_CALLS: Table = UpdateCall.__table__  # type: ignore[assignment]
_RECORD_CALL = insert(_CALLS)  # built once; the rows are the parameters


@dataclass
class CallContext:
    """The update being handled in this task, for :class:`CallLog`."""

    bot_id: int
    update_id: int
    session: AsyncSession
    sessionmaker: async_sessionmaker[AsyncSession]
    record: bool  # only updates from the inbox can be handled again
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)  # calls being made
    replay: dict[int, tuple[str, str]] = field(default_factory=dict)
    seq: int = 0
    # Calls made whose records wait for the update's next commit (issue 18: no session and no
    # commit of their own); ``open`` is False once the handler is over or cut off, and a call
    # finishing after that records itself.
    pending: list[dict[str, Any]] = field(default_factory=list)
    open: bool = True

    async def write_pending(self, session: AsyncSession) -> None:
        """Add the waiting records to ``session``'s transaction (the caller commits)."""
        if self.pending:
            rows, self.pending = [_record_row(row) for row in self.pending], []
            await session.execute(_RECORD_CALL, rows[0] if len(rows) == 1 else rows)

    async def close(self) -> None:
        """The handler is over without its last commit: store the waiting records on their own."""
        self.open = False
        if not self.pending:
            return
        try:
            async with self.sessionmaker() as session:
                await self.write_pending(session)
                await session.commit()
        except Exception as exc:  # the calls were made; only their records are missing
            log.warning("could not record the calls of update %s: %s", self.update_id, exc)


current_calls: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "current_calls", default=None
)


def _record_row(pending: dict[str, Any]) -> dict[str, Any]:
    """The ``update_calls`` row of a waiting record: its result serialised only now, as most
    records are never written (those of the calls before an update's last commit, which
    marks it done, are not needed: a done update is not taken again)."""
    return {**pending, "result": json.dumps(_jsonable(pending["result"]))}


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _finished(
    in_flight: set[asyncio.Task[Any]], waiter: asyncio.Future[Any], task: asyncio.Task[Any]
) -> None:
    """A call's task is over: it leaves ``in_flight`` and its outcome goes to the handler
    waiting on ``waiter``; if the handler was cut off meanwhile (``waiter`` cancelled), the
    outcome is only marked as seen, as ``asyncio.shield`` does."""
    in_flight.discard(task)
    if waiter.cancelled():
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    elif task.cancelled():
        waiter.cancel()
    elif (exc := task.exception()) is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(task.result())


class CallLog(BaseRequestMiddleware):
    """Bot session middleware; what it needs comes with the update (:data:`current_calls`)."""

    def __init__(self) -> None:
        self.replayed = 0

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        # aiogram's chain passes the call's *result* along, whatever its annotation says.
        ctx = current_calls.get()
        name = method.__api_method__
        if ctx is None or name in UNRECORDED or name.startswith("get"):
            return await make_request(bot, method)
        ctx.seq += 1
        seq = ctx.seq
        stored = ctx.replay.get(seq)
        if stored is not None and stored[0] == name:
            self.replayed += 1
            log.info("update %s: call %s (%s) made before; not again", ctx.update_id, seq, name)
            return cast("Response[TelegramType]", replayed_result(bot, method, stored[1]))
        if ctx.pending:  # the previous call's record is stored before this call is made
            await ctx.write_pending(ctx.session)
        if ctx.session.in_transaction():
            await ctx.session.commit()
        if not ctx.record:
            return await make_request(bot, method)
        # The call runs in a task of its own, so cancelling the handler (shutdown) does not cut
        # it off: the handler waits on ``waiter``, which one callback of the task settles (what
        # ``asyncio.shield`` does with an outer future, two callbacks and two closures; issue 18).
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._call(make_request, bot, method, ctx, seq))
        waiter: asyncio.Future[Any] = loop.create_future()
        ctx.in_flight.add(task)
        task.add_done_callback(partial(_finished, ctx.in_flight, waiter))
        return cast("Response[TelegramType]", await waiter)

    @staticmethod
    async def _save(ctx: CallContext, seq: int, name: str, result: str) -> None:
        async with ctx.sessionmaker() as session:
            session.add(
                UpdateCall(
                    bot_id=ctx.bot_id,
                    update_id=ctx.update_id,
                    seq=seq,
                    method=name,
                    result=result,
                    created_at=utcnow(),
                )
            )
            await session.commit()

    async def _call(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
        ctx: CallContext,
        seq: int,
    ) -> Any:
        response = await make_request(bot, method)  # the call's result, not the envelope
        name = method.__api_method__
        if ctx.open:  # stored with the update's next commit (the one marking it done at last)
            ctx.pending.append(
                {
                    "bot_id": ctx.bot_id,
                    "update_id": ctx.update_id,
                    "seq": seq,
                    "method": name,
                    "result": response,  # serialised if the record is written (_record_row)
                    "created_at": utcnow(),
                }
            )
            return response
        try:
            await self._save(ctx, seq, name, json.dumps(_jsonable(response)))
        except Exception as exc:  # the call was made; only its record is missing
            log.warning("could not record call %s of update %s: %s", seq, ctx.update_id, exc)
        return response


class Pipeline:
    """Workers over the inbox for one bot and dispatcher (see the module doc)."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        inbox: Inbox,
        *,
        limit: int = 64,
        poll_interval: float = 1.0,
        prune_every: float = 3600.0,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.inbox = inbox
        self.limit = max(limit, 1)
        self.poll_interval = poll_interval
        self.prune_every = prune_every
        self.tasks: dict[int, asyncio.Task[Any]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._drained = asyncio.Event()  # the last look found nothing to take

    def notify(self) -> None:
        """New rows were stored: look now."""
        self._drained.clear()
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        if self.inbox.dialect == "sqlite":
            taken = await self.inbox.take_back_leases(self.bot.id)
            if taken:
                log.info("taking up %d update(s) the previous run left unfinished", taken)
        renewing = asyncio.create_task(self._renew(stop))
        next_prune = time.monotonic()
        try:
            while not stop.is_set():
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + self.prune_every
                    with contextlib.suppress(Exception):
                        await self.inbox.prune()
                self._wake.clear()
                claimed: list[Claimed] = []
                free = self.limit - len(self.tasks)
                if free > 0:
                    try:
                        claimed = await self.inbox.claim(self.bot.id, free)
                    except Exception as exc:
                        log.warning("could not read the update inbox: %s", exc)
                for row in claimed:
                    self._start(row)
                if free > 0 and not claimed:
                    self._drained.set()
                if claimed and len(claimed) == free:
                    continue  # there may be more
                await self._sleep(stop)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _start(self, row: Claimed) -> None:
        task = asyncio.create_task(self._handle(row), name=f"update:{row.update_id}")
        self.tasks[row.update_id] = task
        self._idle.clear()

        def finished(_: asyncio.Task[Any]) -> None:
            self.tasks.pop(row.update_id, None)
            if not self.tasks:
                self._idle.set()
            self._wake.set()  # a slot is free

        task.add_done_callback(finished)

    async def _handle(self, row: Claimed) -> None:
        update = parse_update(self.bot, row.payload)
        if update is None:  # stored by an older release, or edited by hand
            await self.inbox.mark_failed(self.bot.id, row.update_id, describe_error(row.payload))
            return
        try:
            await self.dp.feed_update(self.bot, update, inbox_attempt=row.attempt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("update %s failed outside its handlers", row.update_id)

    async def _renew(self, stop: asyncio.Event) -> None:
        period = max(self.inbox.lease.total_seconds() / 3, 0.5)
        while not stop.is_set():
            await asyncio.sleep(period)
            with contextlib.suppress(Exception):
                await self.inbox.renew(self.bot.id, list(self.tasks))

    async def wait_idle(self) -> None:
        """Until nothing is in hand and the inbox has no pending row (tests)."""
        while True:
            # Counted once the loop found nothing to take (or a poll interval later), not after
            # every update handled.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.poll_interval)
            await self._idle.wait()
            if not await self.inbox.pending(self.bot.id):
                return
            self.notify()
            await asyncio.sleep(0.01)
