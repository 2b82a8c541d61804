"""Benchmark: does the bot's memory grow with the questions it answers? (issue 18.3)

    .venv/bin/python bench/bench_memory.py                       # SQLite, 50,000 questions
    .venv/bin/python bench/bench_memory.py -n 20000 --backend postgres
    .venv/bin/python bench/bench_memory.py --trace               # + where the growth was allocated

The whole assistant as in production (:func:`bot.factory.create_dispatcher`: the update ledger,
a database session and user row per update, locale, flood control, every router, the question
stored, the FAQ hook) is fed private questions through ``Dispatcher.feed_update``, 64 in flight,
with a Bot API session that answers locally and keeps nothing (as ``bench_throughput.py``).
The questions are those of the dev sets in ``bench/data`` (kk/ru/en), from 4-question users;
from the second pass on, each question gets a typo (two letters of one word swapped), so the
words keep changing as real students' do and every per-word cache is exercised.

It prints the resident memory (RSS, after a garbage collection) after 1,000 questions and at
checkpoints up to ``-n``, the growth from 1,000 to the last (target: ≤ 20 MB from 1,000 to
50,000), and next to it the RSS of a process that only imports aiogram. ``--trace`` also
prints the ten allocation sites that grew most between 1,000 and the end (tracemalloc; slower).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from aiogram import Bot  # noqa: E402
from aiogram.types import Update  # noqa: E402
from bench_throughput import (  # noqa: E402
    DEFAULT_PG,
    TOKEN,
    SilentSession,
    aiogram_floor_mb,
    pg_database,
    rss_mb,
)

from bot.config import Settings  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.factory import create_app_context, create_bot, create_dispatcher  # noqa: E402
from devtools.pgdb import drop_database  # noqa: E402

DEV_SETS = (
    "blind.jsonl",
    "blind2.jsonl",
    "blind3.jsonl",
    "blind4.jsonl",
    "blind5.jsonl",
    "blind6.jsonl",
    "faq_dev.jsonl",
    "natural_dev.jsonl",
    "out_of_scope.jsonl",
    "paraphrases.jsonl",
)
FIRST_USER = 70_000_000
QUESTIONS_PER_USER = 4  # below the flood limit, as in bench_throughput
CHECKPOINTS = (1_000, 5_000, 10_000, 20_000, 30_000, 40_000, 50_000)


class FlatSession(SilentSession):
    """One message-id counter for every chat: the bench's own session stays flat."""

    def __init__(self) -> None:
        super().__init__()
        self._counter = itertools.count(1000)

    def new_message_id(self, chat_id: int | str) -> int:
        return next(self._counter)


def load_questions() -> list[tuple[str, str]]:
    out = []
    for name in DEV_SETS:
        path = ROOT / "bench" / "data" / name
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((row["lang"], row["question"]))
    return out


def typo(text: str, rng: random.Random) -> str:
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def updates(n: int, questions: list[tuple[str, str]], start: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(start)
    now = int(time.time())
    for k in range(start, start + n):
        lang, text = questions[k % len(questions)]
        if k >= len(questions):  # every pass after the first: new spellings
            text = typo(text, rng)
        user_id = FIRST_USER + k // QUESTIONS_PER_USER
        yield {
            "update_id": k + 1,
            "message": {
                "message_id": k + 1,
                "date": now,
                "chat": {"id": user_id, "type": "private", "first_name": "Student"},
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": "Student",
                    "language_code": lang,
                },
                "text": text,
            },
        }


async def feed(dp: Any, bot: Bot, source: Iterator[dict[str, Any]], concurrency: int) -> None:
    async def worker() -> None:
        for raw in source:
            await dp.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def settled_rss() -> float:
    gc.collect()
    return rss_mb()


async def run(url: str, n: int, concurrency: int, trace: bool) -> list[tuple[int, float]]:
    await upgrade(url)
    settings = Settings(database_url=url, redis_url=None, _env_file=None)  # type: ignore[call-arg]
    ctx = await create_app_context(settings)
    dp = create_dispatcher(ctx)
    bot = create_bot(settings, session=FlatSession(), token=TOKEN)
    questions = load_questions()
    points: list[tuple[int, float]] = [(0, settled_rss())]
    snapshot = None
    done = 0
    started = time.perf_counter()
    try:
        for mark in [c for c in CHECKPOINTS if c < n] + [n]:
            await feed(dp, bot, updates(mark - done, questions, done), concurrency)
            done = mark
            points.append((done, settled_rss()))
            print(
                f"  {done:>6} questions: RSS {points[-1][1]:6.1f} MB "
                f"({time.perf_counter() - started:5.0f} s)",
                flush=True,
            )
            if trace and done == CHECKPOINTS[0]:
                tracemalloc.start(8)
                snapshot = tracemalloc.take_snapshot()
        if snapshot is not None:
            gc.collect()
            grown = tracemalloc.take_snapshot().compare_to(snapshot, "traceback")
            print("allocation sites that grew most since 1,000 questions:")
            for stat in grown[:10]:
                print(f"  {stat.size_diff / 1e6:+7.2f} MB {stat.count_diff:+8} blocks")
                for line in stat.traceback.format()[-6:]:
                    print(f"      {line}")
    finally:
        await ctx.close()
        await bot.session.close()
    return points


async def main_async(args: argparse.Namespace) -> int:
    if args.backend == "postgres":
        created = await pg_database(args.postgres)
        if created is None:
            return 2
        url, name = created
        try:
            points = await run(url, args.n, args.concurrency, args.trace)
        finally:
            await drop_database(args.postgres, name)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            points = await run(url, args.n, args.concurrency, args.trace)
    at = dict(points)
    first = at.get(1_000, points[1][1])
    last_n, last = points[-1]
    growth = last - first
    print(
        f"{args.backend}: RSS at start {points[0][1]:.1f} MB, after 1,000 questions "
        f"{first:.1f} MB, after {last_n:,} {last:.1f} MB: growth {growth:+.1f} MB "
        f"(target ≤ 20 MB: {'meets' if growth <= 20 else 'MISSES'})"
    )
    print(f"a process that only imports aiogram: {aiogram_floor_mb():.1f} MB RSS")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50_000, help="questions (default 50,000)")
    parser.add_argument("--concurrency", type=int, default=64, help="updates in flight")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--trace", action="store_true", help="where the growth was allocated")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
