"""A clean drain on shutdown: the updates in flight are let finish (bounded), then cancelled.

:class:`Reliability` holds a dispatcher's per-update pieces — the update ledger
(:mod:`bot.ledger`), the inbox (:mod:`bot.inbox`), what is in flight and the middleware that
tracks it (:mod:`bot.middlewares.update`) — and :meth:`Reliability.drain` lets started
handlers finish on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from aiogram import Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.aiogram_compat import update_tasks
from bot.inbox import Inbox
from bot.ledger import UpdateLedger
from bot.metrics import Metrics
from bot.metrics import metrics as default_metrics
from bot.middlewares.update import InFlight, ReliabilityMiddleware

log = logging.getLogger(__name__)

CALL_GRACE_SECONDS = 30.0


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
    tasks = update_tasks(dp)
    for name in ("poller", "pipeline"):
        running = getattr(dp.workflow_data.get(name), "tasks", ())
        tasks |= set(running.values() if isinstance(running, dict) else running)
    return tasks
