"""The one worker loop: steps, pauses, backoff during an outage, logged once per outage."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.app import Services
from bot.workers import BackgroundWorker, run_worker_loop
from tests.harness import Harness


async def test_a_failing_step_backs_off_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopping = asyncio.Event()
    outcomes = [RuntimeError("db down")] * 4 + [0, 0]
    pauses: list[float] = []

    async def step() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        if not outcomes:
            stopping.set()

    with caplog.at_level(logging.INFO, logger="bot.workers"):
        await run_worker_loop(
            step, stopping=stopping, interval=2.0, what="tick", max_backoff=10.0, pause=pause
        )
    assert pauses == [2.0, 4.0, 8.0, 10.0, 2.0, 2.0]
    failed = [r for r in caplog.records if "tick failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert any("tick works again after 4" in r.getMessage() for r in caplog.records)


async def test_a_busy_queue_steps_again_at_once() -> None:
    stopping = asyncio.Event()
    results = [3, 1, 0]
    pauses: list[float] = []

    async def step() -> int:
        return results.pop(0)

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        stopping.set()

    await run_worker_loop(
        step, stopping=stopping, interval=1.0, what="queue", busy_again=True, pause=pause
    )
    assert results == [] and pauses == [1.0]


async def test_cancelling_a_worker_is_not_swallowed() -> None:
    async def step() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_worker_loop(step, stopping=asyncio.Event(), interval=1.0, what="x")


def test_the_workers_are_listed_by_type_not_found_by_name(harness: Harness) -> None:
    services: Services = harness.ctx.services
    workers = services.workers()
    assert set(workers) == {"helpdesk", "broadcasts", "reminders", "unanswered", "stats_digest"}
    assert all(isinstance(w, BackgroundWorker) for w in workers.values())
    assert {p.personal_data_key for p in services.personal_data_providers()} == {
        "applications",
        "webchat",
    }
