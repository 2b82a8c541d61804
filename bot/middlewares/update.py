"""The first update middleware of ours: claim the update, then handle it, timed and tracked.

An update fed directly (a webhook without the inbox, the tests) is claimed in the update
ledger (:mod:`bot.ledger`); one from the inbox (``inbox_attempt`` in the data, see
:mod:`bot.pipeline`) is claimed by its inbox row, and the Bot API calls made for it are
recorded (:class:`bot.pipeline.CallLog`) and on a later attempt answered from the record. The
update's database session is opened here and shared by the FSM storage and the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import SessionScope, update_session
from bot.inbox import Inbox
from bot.ledger import DB_ERRORS, UpdateLedger
from bot.metrics import Metrics
from bot.pipeline import CallContext, current_calls

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


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
            async with SessionScope(self.ledger.sessionmaker) as session:
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
            result = await handler(event, data)
            if calls.pending:  # not stored by the update's last commit (none was made)
                await calls.close()
            return result
        except asyncio.CancelledError:
            # Cut off by shutdown: if the update comes again it must be handled then.
            with contextlib.suppress(*DB_ERRORS, asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.shield(calls.close())  # the calls made are not made again
                    if attempt is None:
                        await asyncio.shield(self.ledger.release(bot.id, event.update_id))
                    else:
                        await asyncio.shield(self.inbox.release(bot.id, event.update_id))
            raise
        except Exception as exc:
            self.metrics.errors.labels(kind="handler").inc()
            await calls.close()
            if attempt is not None:
                # Not retried: the error handler tells the user; the row says what happened.
                with contextlib.suppress(*DB_ERRORS):
                    await self.inbox.mark_failed(bot.id, event.update_id, repr(exc))
            raise
        finally:
            calls.open = False
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
