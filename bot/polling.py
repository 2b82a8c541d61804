"""Long polling that one bad update cannot stop, used instead of aiogram's ``start_polling``.

aiogram's loop asks ``getUpdates`` for parsed :class:`~aiogram.types.Update` objects: one
payload its models reject fails the whole batch, and the same ``getUpdates`` is retried with a
growing backoff for ever — nobody is answered. Here the batch is read as plain JSON and each
update parsed on its own; one that does not parse is a *poison* update: logged once, counted
(``studentbot_poison_updates_total``), kept in the inbox for inspection and skipped — the
offset moves past it like any other.

Each batch is written to the update inbox (:mod:`bot.inbox`) and committed before the next
``getUpdates`` moves the offset, so an update Telegram forgets is already stored; the
pipeline (:mod:`bot.pipeline`) handles it from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramConflictError, TelegramNetworkError
from aiogram.types import Update

from bot.aiogram_compat import GetRawUpdates
from bot.metrics import Metrics
from bot.metrics import metrics as default_metrics
from bot.updates import describe_error, parse_update

log = logging.getLogger(__name__)

POLL_TIMEOUT = 30  # seconds Telegram holds a getUpdates open when there is nothing
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0

StoreBatch = Callable[[list[dict[str, Any]], dict[int, str]], Awaitable[None]]


class Poller:
    """Fetches batches with ``getUpdates`` and hands each update on; see the module doc."""

    def __init__(
        self,
        bot: Bot,
        *,
        allowed_updates: list[str] | None,
        handle: Callable[[Update], Awaitable[Any]] | None = None,
        store: StoreBatch | None = None,
        limit: int = 64,
        metrics: Metrics | None = None,
        poll_timeout: int = POLL_TIMEOUT,
    ) -> None:
        self.bot = bot
        self.allowed_updates = allowed_updates
        self.handle = handle
        self.store = store
        self.metrics = metrics if metrics is not None else default_metrics
        self.poll_timeout = poll_timeout
        self.offset: int | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self._slots = asyncio.Semaphore(max(limit, 1))

    async def fetch(self) -> list[dict[str, Any]]:
        """One ``getUpdates`` (long poll) from the current offset, with network retries."""
        delay = BACKOFF_FIRST
        method = GetRawUpdates(
            offset=self.offset, timeout=self.poll_timeout, allowed_updates=self.allowed_updates
        )
        timeout = int((self.bot.session.timeout or 0) + self.poll_timeout)
        while True:
            try:
                raw: Any = await self.bot(cast(Any, method), request_timeout=timeout)
                return list(raw)
            except TelegramConflictError:
                raise
            except (TelegramNetworkError, TelegramAPIError) as exc:
                log.warning("getUpdates failed (%s); again in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def poison(self, raw: dict[str, Any]) -> str:
        reason = describe_error(raw)
        self.metrics.poison_updates.inc()
        log.error("update %s could not be parsed and is skipped: %s", raw.get("update_id"), reason)
        return reason

    async def dispatch(self, raw_updates: list[dict[str, Any]]) -> None:
        """Parse a batch; with an inbox, store it (committed) and only then move the offset,
        else start each update. Poison updates are skipped (and kept in the inbox)."""
        batch: list[dict[str, Any]] = []
        poison: dict[int, str] = {}
        offset = self.offset
        for raw in raw_updates:
            update_id = raw.get("update_id")
            if not isinstance(update_id, int):
                log.error("getUpdates returned an object without update_id; skipped")
                self.metrics.poison_updates.inc()
                continue
            offset = max(offset or 0, update_id + 1)
            update = parse_update(self.bot, raw)
            if update is None:
                poison[update_id] = await self.poison(raw)
            batch.append(raw)
            if self.store is None and update is not None:
                await self.start(update)
        if self.store is not None and batch:
            await self.store(batch, poison)  # retried until stored: the offset waits for it
        self.offset = offset

    async def start(self, update: Update) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._run(update), name=f"update:{update.update_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, update: Update) -> None:
        try:
            if self.handle is not None:
                await self.handle(update)
        except Exception:
            log.exception("update %s failed outside its handlers", update.update_id)
        finally:
            self._slots.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (a getUpdates in progress is abandoned at once)."""
        while not stop.is_set():
            fetching = asyncio.ensure_future(self.fetch())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetching
                stopping.cancel()
                break
            stopping.cancel()
            await self.dispatch(fetching.result())


async def run_polling_loop(
    dp: Dispatcher,
    bot: Bot,
    ctx: Any,
    *,
    stop: asyncio.Event,
    limit: int | None = None,
) -> Any:
    """Delete any webhook, then poll for ``dp`` until ``stop``: each batch goes to the update
    inbox and the :class:`~bot.pipeline.Pipeline` handles it from there. Returns the pipeline
    (its tasks may still be running: the caller drains them)."""
    from bot.pipeline import Pipeline

    inbox = dp["reliability"].inbox
    pipeline = Pipeline(
        dp,
        bot,
        inbox,
        limit=limit if limit is not None else ctx.settings.max_concurrent_updates,
    )
    dp["pipeline"] = pipeline

    async def store(batch: list[dict[str, Any]], poison: dict[int, str]) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                await inbox.store(bot.id, batch, poison=poison)
                break
            except Exception as exc:
                log.warning("could not store updates (%s); again in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        pipeline.notify()

    await bot.delete_webhook(drop_pending_updates=False)
    poller = Poller(bot, allowed_updates=dp.resolve_used_update_types(), store=store)
    dp["poller"] = poller
    workers_stop = asyncio.Event()
    working = asyncio.create_task(pipeline.run(workers_stop))
    try:
        await poller.run(stop)
    finally:
        workers_stop.set()
        await working
    return pipeline
