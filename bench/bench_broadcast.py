"""Benchmark: a broadcast to N recipients against the local Bot API stub (issue 5, item 10).

    .venv/bin/python bench/bench_broadcast.py                  # 10,000 recipients, SQLite
    .venv/bin/python bench/bench_broadcast.py -n 2000 --postgres postgresql+asyncpg://postgres@127.0.0.1/postgres

The stub (``devtools.fake_botapi.FakeBotAPI``) runs in this process on 127.0.0.1 and answers
429 with ``retry_after`` when more than ``--server-limit`` (30) sends arrive within a second.

Run 1 sends with the real :class:`bot.services.broadcast.BroadcastService` in a subprocess.
Run 2 starts the same sender, SIGKILLs it at a random point, restarts it and lets it finish.
Each run prints the achieved rate next to the baseline (``BROADCAST_RATE`` or the outgoing budget's
share for broadcasts, whichever is lower; target >= 90 %), the
count of 429s, duplicates and lost recipients (both targets 0), counted per chat from the
server's own records, and the rows the database holds as ``unknown`` (in flight at the kill:
at-most-once means they are not re-sent; see the service's docstring). The whole benchmark is
bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.db.base import create_engine, create_sessionmaker  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import User  # noqa: E402
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery  # noqa: E402
from devtools.pgdb import create_database, drop_database  # noqa: E402

TOKEN = "123456:" + "B" * 35
SENDER_ID = 1
FIRST_RECIPIENT = 10_000_000


def settings_for(url: str, rate: float) -> Settings:
    return Settings(database_url=url, broadcast_rate=rate, _env_file=None)  # type: ignore[call-arg]


async def prepare_db(url: str, n: int) -> int:
    """Migrated database with ``n`` students and one staff sender; returns the broadcast id."""
    from bot.services.broadcast import create_broadcast

    await upgrade(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add(User(id=SENDER_ID, first_name="Staff", role="staff", language="en"))
            rows = [
                {
                    "id": FIRST_RECIPIENT + i,
                    "first_name": f"S{i}",
                    "role": "student",
                    "language": ("kk", "ru", "en")[i % 3],
                    "is_active": True,
                }
                for i in range(n)
            ]
            for start in range(0, n, 2000):
                await session.execute(insert(User), rows[start : start + 2000])
            sender = await session.get(User, SENDER_ID)
            assert sender is not None
            b = await create_broadcast(
                session, sender=sender, text="<b>Benchmark</b> announcement", audience={}
            )
            return b.id
    finally:
        await engine.dispose()


async def db_counts(url: str, broadcast_id: int) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(BroadcastDelivery.status, func.count())
                .where(BroadcastDelivery.broadcast_id == broadcast_id)
                .group_by(BroadcastDelivery.status)
            )
            status = await session.scalar(
                select(Broadcast.status).where(Broadcast.id == broadcast_id)
            )
            out = {s: int(c) for s, c in rows.all()}
            out["_broadcast_" + str(status)] = 1
            return out
    finally:
        await engine.dispose()


# The sender (subprocess) ------------------------------------------------------------------------


async def run_sender(url: str, api: str, rate: float, lease: float) -> int:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.budget import MemoryStore, OutgoingBudget, install_budget
    from bot.services.broadcast import BroadcastService

    settings = settings_for(url, rate)
    engine = create_engine(url)
    service = BroadcastService(
        settings,
        create_sessionmaker(engine),
        lease=timedelta(seconds=lease),
        request_timeout=max(1, int(lease / 2)),
        backoff=0.5,
    )
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api)))
    # The pace is the bot's outgoing budget, as in the bot (bot/budget.py).
    install_budget(bot, OutgoingBudget(MemoryStore(), broadcast_rate=rate))
    try:
        await service.drain(bot, max_steps=100_000)
    finally:
        await bot.session.close()
        await engine.dispose()
    return 0


# The benchmark --------------------------------------------------------------------------------


async def spawn_sender(
    url: str, api: str, rate: float, lease: float
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--sender",
        "--db",
        url,
        "--api",
        api,
        "--rate",
        str(rate),
        "--lease",
        str(lease),
    )


def server_figures(api: object, n: int, since: int) -> tuple[int, int, int]:
    """(delivered, duplicates, lost) per chat from the server's records since call ``since``."""
    per_chat: collections.Counter[int] = collections.Counter()
    for call in api.calls[since:]:  # type: ignore[attr-defined]
        if call.method == "sendMessage" and call.answered and call.error_code is None:
            per_chat[int(call.params["chat_id"])] += 1
    recipients = range(FIRST_RECIPIENT, FIRST_RECIPIENT + n)
    duplicates = sum(max(0, per_chat[c] - 1) for c in recipients)
    lost = sum(1 for c in recipients if per_chat[c] == 0)
    return sum(per_chat[c] for c in recipients), duplicates, lost


async def one_run(
    label: str,
    url: str,
    api: object,
    n: int,
    rate: float,
    lease: float,
    kill: bool,
    deadline: float,
) -> dict[str, object]:
    broadcast_id = await prepare_db(url, n)
    stamps: list[float] = []
    original = api._m_sendMessage  # type: ignore[attr-defined]

    async def timed(token: str, params: dict[str, object]) -> object:
        result = await original(token, params)
        stamps.append(time.monotonic())
        return result

    api._m_sendMessage = timed  # type: ignore[attr-defined]
    since = len(api.calls)  # type: ignore[attr-defined]
    limited_before = api.rate_limited  # type: ignore[attr-defined]
    base = api.base_url  # type: ignore[attr-defined]
    started = time.monotonic()
    kills = 0
    proc = await spawn_sender(url, base, rate, lease)
    if kill:
        expected = n / rate
        at = random.uniform(0.2, 0.8) * expected
        try:
            await asyncio.wait_for(proc.wait(), timeout=at)
        except TimeoutError:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            kills = 1
            print(f"  {label}: sender SIGKILLed after {at:.1f}s; restarting it", flush=True)
            proc = await spawn_sender(url, base, rate, lease)
    try:
        await asyncio.wait_for(proc.wait(), timeout=max(1.0, deadline - time.monotonic()))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        print(f"  {label}: time bound reached, sender stopped", flush=True)
    elapsed = time.monotonic() - started
    delivered, duplicates, lost = server_figures(api, n, since)
    c = await db_counts(url, broadcast_id)
    api._m_sendMessage = original  # type: ignore[attr-defined]
    # Achieved rate: deliveries between the first and the last one the server accepted (the
    # sender's start-up, and in run 2 its restart, are reported in "time" but not in the rate).
    window = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    achieved = (len(stamps) - 1) / window if window else 0.0
    return {
        "run": label,
        "recipients": n,
        "delivered": delivered,
        "seconds": round(elapsed, 1),
        "rate": round(achieved, 2),
        "overall": round(delivered / elapsed, 2) if elapsed else 0,
        "baseline": round(ceiling(rate), 2),
        "share": round(100 * achieved / ceiling(rate), 1),
        "429s": api.rate_limited - limited_before,  # type: ignore[attr-defined]
        "duplicates": duplicates,
        "lost": lost,  # type: ignore[attr-defined]
        "unknown_in_db": c.get("unknown", 0),
        "kills": kills,
        "db": {k: v for k, v in c.items() if not k.startswith("_")},
    }


def ceiling(rate: float) -> float:
    """What a broadcast may reach: BROADCAST_RATE, or the budget's share for broadcasts when
    no one else sends (all but one slot of each window, bot/budget.py), whichever is lower."""
    from bot.budget import BASE_RESERVE, WINDOW

    return min(rate, (30 - BASE_RESERVE) / WINDOW)


def print_result(r: dict[str, object]) -> None:
    ok = (
        float(r["share"]) >= 90 and r["duplicates"] == 0 and r["lost"] == 0  # type: ignore[arg-type]
    )
    print(
        f"{r['run']:<22} recipients={r['recipients']} delivered={r['delivered']} "
        f"time={r['seconds']}s ({r['overall']}/s overall) rate={r['rate']}/s "
        f"baseline min(BROADCAST_RATE, budget)={r['baseline']}/s "
        f"-> {r['share']}% (target >= 90%) 429s={r['429s']} duplicates={r['duplicates']} "
        f"lost={r['lost']} (targets 0) unknown-in-db={r['unknown_in_db']} "
        f"{'OK' if ok else 'MISSED'}",
        flush=True,
    )
    print(f"{'':<22} delivery rows: {r['db']}", flush=True)


async def bench(args: argparse.Namespace) -> int:
    from devtools.fake_botapi import FakeBotAPI

    rate = args.rate if args.rate else Settings(_env_file=None).broadcast_rate  # type: ignore[call-arg]
    expected = args.recipients / rate
    limit = args.timeout or (2 * 2.5 * expected + 120) * (2 if args.postgres else 1)
    deadline = time.monotonic() + limit
    random.seed(args.seed)
    print(
        f"broadcast benchmark: {args.recipients} recipients, BROADCAST_RATE={rate}/s, stub limit "
        f"{args.server_limit}/s, ideal {expected:.0f}s a run, time bound {limit:.0f}s",
        flush=True,
    )
    results = []
    async with FakeBotAPI(rate_limit_per_second=args.server_limit) as api:
        backends: list[tuple[str, str, str | None]] = []
        tmp = tempfile.mkdtemp(prefix="bench-broadcast-")
        backends.append(("sqlite", f"sqlite+aiosqlite:///{tmp}/clean.db", None))
        backends.append(("sqlite", f"sqlite+aiosqlite:///{tmp}/kill.db", None))
        pg_names: list[str] = []
        if args.postgres:
            for _ in range(2):
                url, name = await create_database(args.postgres, "bench_broadcast")
                pg_names.append(name)
                backends.append(("postgres", url, name))
        try:
            for i, (backend, url, _name) in enumerate(backends):
                kill = i % 2 == 1
                label = f"{backend}/{'kill+restart' if kill else 'clean'}"
                result = await one_run(
                    label, url, api, args.recipients, rate, args.lease, kill, deadline
                )
                results.append(result)
                print_result(result)
        finally:
            for name in pg_names:
                await drop_database(args.postgres, name)
    failed = [r for r in results if r["duplicates"] or r["lost"] or float(r["share"]) < 90]  # type: ignore[arg-type]
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--recipients", type=int, default=10_000)
    parser.add_argument(
        "--rate", type=float, default=None, help="BROADCAST_RATE (default: setting)"
    )
    parser.add_argument("--server-limit", type=int, default=30)
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    parser.add_argument("--timeout", type=float, default=None, help="bound for the whole run (s)")
    parser.add_argument("--lease", type=float, default=10.0, help="delivery lease seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--sender", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        return asyncio.run(run_sender(args.db, args.api, args.rate, args.lease))
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
