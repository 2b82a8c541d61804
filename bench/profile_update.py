"""Where the CPU of one answered question goes: inclusive thread CPU per stage of an update.

    .venv/bin/python bench/profile_update.py                    # SQLite, fed directly
    .venv/bin/python bench/profile_update.py --inbox            # through the update inbox
    .venv/bin/python bench/profile_update.py --backend postgres --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test

Updates are fed one at a time (concurrency 1), so the CPU the event loop's thread spends inside
a stage (``time.thread_time`` on entry and exit; nested calls counted once) is that stage's own
and its callees': the figures are inclusive, the list is sorted by them. The first line gives
the whole update, main thread and process (the process adds aiosqlite's worker thread); the
stages' timers add a few microseconds each, so the sum is a little above an unprofiled run
(``bench/bench_throughput.py`` gives those figures). Same questions and users as that bench.
Issue 18.1's target is 4 ms per answered question.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import inspect
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_throughput as bt  # noqa: E402
from aiogram.types import Update  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.factory import create_app_context, create_bot, create_dispatcher  # noqa: E402

spent: collections.Counter[str] = collections.Counter()
calls: collections.Counter[str] = collections.Counter()
depth: collections.Counter[str] = collections.Counter()


def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` counting its inclusive thread CPU under ``label``."""

    def enter() -> float:
        depth[label] += 1
        return time.thread_time()

    def leave(started: float) -> None:
        depth[label] -= 1
        calls[label] += 1
        if depth[label] == 0:
            spent[label] += time.thread_time() - started

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            started = enter()
            try:
                return await function(*args, **kwargs)
            finally:
                leave(started)

        return async_wrapper

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = enter()
        try:
            return function(*args, **kwargs)
        finally:
            leave(started)

    return wrapper


def instrument() -> None:
    """Time the stages of an update: the middlewares in order, the routing, the question
    handler's parts, the database work."""
    import aiogram.dispatcher.dispatcher as dispatcher
    import aiogram.fsm.middleware as fsm
    import aiogram.utils.i18n.middleware as i18n
    from aiogram.dispatcher.event.handler import HandlerObject
    from sqlalchemy.ext.asyncio import AsyncSession

    import bot.budget as budget
    import bot.inbox as inbox
    import bot.ledger as ledger
    import bot.middlewares.command_menu as command_menu
    import bot.middlewares.flood as flood
    import bot.middlewares.fsm_state as fsm_state
    import bot.middlewares.lane as lane
    import bot.middlewares.session as session
    import bot.middlewares.update as update
    import bot.middlewares.user as user
    import bot.pipeline as pipeline
    import bot.services.answers as answers
    import bot.services.faq as faq
    import bot.services.unanswered as unanswered
    import bot.services.users as users
    import bot.web.ids as ids
    import handlers.questions as questions
    import knowledge.ranking as ranking

    targets: list[tuple[Any, str]] = [
        (dispatcher.Dispatcher, "feed_update"),
        (update.ReliabilityMiddleware, "__call__"),
        (ledger.UpdateLedger, "claim"),
        (fsm.FSMContextMiddleware, "__call__"),  # not in the chain since FsmLock/FsmState
        (fsm_state.FsmLock, "__call__"),
        (session.DbSessionMiddleware, "__call__"),
        (user.UserMiddleware, "__call__"),
        (users.UserRepository, "touch"),
        (fsm_state.FsmState, "__call__"),
        (i18n.I18nMiddleware, "__call__"),
        (command_menu.CommandMenuMiddleware, "__call__"),
        (ids.UpdateContext, "__call__"),
        (budget.SendClassMiddleware, "__call__"),
        (flood.FloodControl, "__call__"),
        (lane.QuestionLane, "__call__"),
        (lane.QuestionLane, "route"),
        (HandlerObject, "check"),
        (answers.AnswerService, "answer"),
        (ranking.Ranker, "rank"),
        (answers.AnswerService, "_programme"),
        (faq.FaqService, "resolve"),
        (questions, "store_question"),
        (unanswered.UnansweredService, "record"),
        (questions, "answer_keyboard"),
        (AsyncSession, "commit"),
        (AsyncSession, "close"),
        (inbox.Inbox, "claim"),
        (inbox.Inbox, "mark_done"),
        (pipeline.CallContext, "write_pending"),
        (pipeline.CallLog, "__call__"),
    ]
    for owner, name in targets:
        label = f"{getattr(owner, '__name__', owner)}.{name}".replace("__call__", "(middleware)")
        setattr(owner, name, timed(label, getattr(owner, name)))


def time_question_handler(dp: Any) -> None:
    """The questions router's handler, timed as registered (aiogram holds the function)."""
    for router in dp.chain_tail:
        for handler in router.message.handlers:
            if handler.flags.get("question_lane"):
                handler.callback = timed("question handler", handler.callback)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        name = None
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'profile.db'}"
        else:
            made = await bt.pg_database(args.postgres)
            if made is None:
                return
            url, name = made
        try:
            await upgrade(url)
            settings = Settings(database_url=url, redis_url=None, _env_file=None)  # type: ignore[call-arg]
            ctx = await create_app_context(settings)
            dp = create_dispatcher(ctx)
            bot = create_bot(settings, session=bt.SilentSession(), token=bt.TOKEN)
            questions = bt.load_questions()
            # Warm-up without timers: imports, index, connection pool, the lane's plan.
            for raw in bt.make_updates(100, 91, questions):
                await dp.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))
            instrument()
            time_question_handler(dp)
            spent.clear()
            calls.clear()
            updates = list(bt.make_updates(args.n, 1, questions))
            thread_started, process_started = time.thread_time(), time.process_time()
            if args.inbox:
                await bt.feed_via_inbox(dp, bot, updates, 1)
            else:
                for raw in updates:
                    await dp.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))
            thread = 1000 * (time.thread_time() - thread_started) / args.n
            process = 1000 * (time.process_time() - process_started) / args.n
            await ctx.close()
            await bot.session.close()
        finally:
            if name is not None:
                await bt.drop_database(args.postgres, name)
    path = "through the update inbox" if args.inbox else "fed directly"
    print(
        f"{args.backend}, {path}, {args.n} questions one at a time: {thread:.2f} ms CPU per "
        f"update on the event loop's thread, {process:.2f} ms the whole process "
        "(issue 18.1's target: 4 ms)"
    )
    print(f"{'ms/update':>9} {'calls':>6}  stage (inclusive)")
    for label, seconds in spent.most_common():
        print(f"{1000 * seconds / args.n:9.2f} {calls[label] / args.n:6.2f}  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="questions (default 400)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default=bt.DEFAULT_PG, help="server for --backend postgres")
    parser.add_argument("--inbox", action="store_true", help="through the update inbox")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
