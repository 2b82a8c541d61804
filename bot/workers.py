"""Background workers: what the runner starts, and the one loop they all run.

A worker is a service with ``run_forever(bot)`` and ``request_stop()``
(:class:`BackgroundWorker`); the application context lists them by name
(:meth:`bot.app.Services.workers`), so the runner starts exactly those, found by type, not
by ``getattr``. Each worker's ``run_forever`` is :func:`run_worker_loop` around its own step
(an SLA check, a reminder tick, a broadcast delivery step, the weekly digest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

__all__ = ["BackgroundWorker", "run_worker_loop"]


@runtime_checkable
class BackgroundWorker(Protocol):
    """Started by the runner with the bot, asked to stop at shutdown (then cancelled)."""

    async def run_forever(self, bot: Bot) -> None: ...

    def request_stop(self) -> None: ...


async def run_worker_loop(
    step: Callable[[], Awaitable[object]],
    *,
    stopping: asyncio.Event,
    interval: float,
    what: str,
    max_backoff: float | None = None,
    busy_again: bool = False,
    pause: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Run ``step`` until ``stopping`` is set, pausing ``interval`` seconds between steps.

    A failing step (the database is down) is logged once per outage with its traceback, then
    retried after a pause that doubles from ``interval`` up to ``max_backoff`` (default: the
    larger of ``interval`` and a minute); the first step that works again is logged too.
    ``busy_again``: a step returning something true did work and the next one starts at once
    (a delivery queue), else every step is followed by the pause (a clock tick). ``pause``
    waits (default: until ``stopping`` is set or the time is up).
    """
    cap = max_backoff if max_backoff is not None else max(interval, 60.0)

    async def wait_stopping(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)

    wait = pause if pause is not None else wait_stopping
    failures = 0
    while not stopping.is_set():
        worked: object = None
        try:
            worked = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            if failures == 0:
                log.exception("%s failed; retrying quietly with backoff", what)
            failures += 1
            worked = None
        else:
            if failures:
                log.info("%s works again after %d failed attempts", what, failures)
            failures = 0
        if (busy_again and worked) or stopping.is_set():
            continue
        seconds = interval
        if failures:
            seconds = min(interval * 2 ** (failures - 1), cap)
        await wait(seconds)
