"""Benchmark: staff analytics (issue 13) on a year of data, SQLite and PostgreSQL.

    .venv/bin/python bench/bench_stats.py                      # SQLite and PostgreSQL, 5 runs
    .venv/bin/python bench/bench_stats.py --backend sqlite --runs 3 --questions 50000

Seeds 200,000 questions and 5,000 tickets over 365 days (plus 20,000 users, 1,500
applications with their decisions, 3,000 wizard runs, 60 broadcasts with 24,000 deliveries and
10,000 unanswered-queue items), then times ``StatsService.report`` for the whole year: the
median of ``--runs`` runs (after one warm-up), each query's median, and the same with the
indexes of migration 0015 dropped — the baseline in the same run. Target: under 2 s.
Then the charts (``bot.views.stats_charts``) are drawn from that report: median per chart and
for the album. PostgreSQL is a scratch database on ``--postgres`` (dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bot.config import LANGUAGES, Settings  # noqa: E402
from bot.db.base import create_engine, create_sessionmaker  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import Question, User  # noqa: E402
from bot.db.models.applications import Application, ApplicationEvent  # noqa: E402
from bot.db.models.broadcasts import Broadcast, BroadcastDelivery  # noqa: E402
from bot.db.models.faq import UnansweredGroup, UnansweredItem  # noqa: E402
from bot.db.models.helpdesk import Ticket  # noqa: E402
from bot.db.models.stats import WizardRun  # noqa: E402
from bot.services.stats import Period, StatsService  # noqa: E402
from devtools.pgdb import create_database, drop_database  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 2.0
# indexes migration 0015 adds for the aggregations (dropped for the baseline)
STATS_INDEXES: tuple[str, ...] = ("ix_questions_stats",)
KINDS = (
    ["answer"] * 55
    + ["unsure"] * 15
    + ["out_of_scope"] * 8
    + ["faq"] * 12
    + (["office"] * 4 + ["programme"] * 5 + ["empty"])
)
CLAUSES = [f"5.{i}.{j}" for i in range(1, 5) for j in range(1, 18)] + [
    f"6.{i}" for i in range(1, 19)
]
STEPS = [
    "kind",
    "ground",
    "role",
    "full_name",
    "identifier",
    "programme",
    "course",
    "start",
    "end",
    "phone",
    "document",
    "summary",
]
BATCH = 5_000


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]


async def _bulk(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), BATCH):
        await session.execute(insert(model), rows[i : i + BATCH])


async def seed(url: str, *, questions: int, tickets: int, users: int, end: datetime) -> None:
    rnd = random.Random(13)
    start = end - timedelta(days=365)

    def moment() -> datetime:
        return start + timedelta(seconds=rnd.uniform(0, 365 * 86400))

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            langs = ["kk"] * 5 + ["ru"] * 4 + ["en"]
            roles = ["student"] * 97 + ["curator"] * 2 + ["staff"]
            await _bulk(
                session,
                User,
                [
                    {
                        "id": 100_000 + i,
                        "first_name": f"U{i}",
                        "language": rnd.choice(langs),
                        "role": rnd.choice(roles),
                        "is_active": True,
                        "created_at": moment(),
                        "last_seen_at": end,
                    }
                    for i in range(users)
                ],
            )
            uid = [100_000 + i for i in range(users)]
            qrows = []
            for _ in range(questions):
                kind = rnd.choice(KINDS)
                clauses = rnd.sample(CLAUSES, 3) if kind != "empty" else []
                fb = rnd.random()
                qrows.append(
                    {
                        "user_id": rnd.choice(uid),
                        "text": "как перевестись на дистанционное?",
                        "language": rnd.choice(langs),
                        "clauses": clauses,
                        "confidence": rnd.random(),
                        "kind": kind,
                        "faq_key": f"faq_{rnd.randrange(60)}" if kind == "faq" else None,
                        "top_clause": clauses[0] if clauses else None,
                        "created_at": moment(),
                        "feedback": 1 if fb < 0.04 else (-1 if fb < 0.06 else None),
                    }
                )
            await _bulk(session, Question, qrows)
            groups = [
                {"id": g + 1, "status": "open", "title": f"group {g}", "created_at": moment()}
                for g in range(200)
            ]
            await _bulk(session, UnansweredGroup, groups)
            await _bulk(
                session,
                UnansweredItem,
                [
                    {
                        "group_id": rnd.randrange(200) + 1,
                        "question_id": q + 1,
                        "user_id": qrows[q]["user_id"],
                        "text": "можно ли жить в общежитии 87015551234",
                        "language": "ru",
                        "reason": "unsure",
                        "created_at": qrows[q]["created_at"],
                    }
                    for q in rnd.sample(range(questions), min(10_000, questions // 2))
                ],
            )
            trows = []
            for _ in range(tickets):
                created = moment()
                replied = created + timedelta(minutes=rnd.expovariate(1 / 90))
                closed = replied + timedelta(hours=rnd.expovariate(1 / 20))
                trows.append(
                    {
                        "user_id": rnd.choice(uid),
                        "status": "closed",
                        "topic": rnd.choice(["application", "schedule", "technical", "other"]),
                        "language": rnd.choice(langs),
                        "staff_chat_id": -100,
                        "created_at": created,
                        "first_response_at": replied if rnd.random() < 0.95 else None,
                        "closed_at": closed if rnd.random() < 0.9 else None,
                        "rating": rnd.choice([None, 3, 4, 5, 5, 2, 1]),
                    }
                )
            await _bulk(session, Ticket, trows)
            arows, erows = [], []
            for a in range(1, 1501):
                created = moment()
                status = rnd.choice(["approved", "approved", "rejected", "submitted"])
                arows.append(
                    {
                        "id": a,
                        "user_id": rnd.choice(uid),
                        "reference": f"DL-{a}",
                        "kind": rnd.choice(["dl", "online"]),
                        "status": status,
                        "language": "kk",
                        "trace": [],
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                erows.append({"application_id": a, "status": "submitted", "created_at": created})
                if status != "submitted":
                    erows.append(
                        {
                            "application_id": a,
                            "status": status,
                            "created_at": created + timedelta(days=rnd.uniform(0.2, 9)),
                        }
                    )
            await _bulk(session, Application, arows)
            await _bulk(session, ApplicationEvent, erows)
            wrows = []
            for _ in range(3000):
                started = moment()
                done = rnd.random()
                wrows.append(
                    {
                        "user_id": rnd.choice(uid),
                        "wizard": "apply",
                        "kind": rnd.choice(["dl", "online", None]),
                        "step": "summary" if done < 0.5 else rnd.choice(STEPS),
                        "outcome": "submitted" if done < 0.5 else rnd.choice([None, "left"]),
                        "started_at": started,
                        "updated_at": started,
                    }
                )
            await _bulk(session, WizardRun, wrows)
            brows, drows = [], []
            for b in range(1, 61):
                brows.append(
                    {
                        "id": b,
                        "kind": rnd.choice(["message", "reminder", "faq"]),
                        "text": "hello",
                        "audience": {},
                        "status": "done",
                        "total": 400,
                        "created_at": moment(),
                    }
                )
                for r in rnd.sample(uid, 400):
                    drows.append(
                        {
                            "broadcast_id": b,
                            "user_id": r,
                            "attempts": 1,
                            "status": rnd.choice(["sent"] * 18 + ["blocked", "failed"]),
                        }
                    )
            await _bulk(session, Broadcast, brows)
            await _bulk(session, BroadcastDelivery, drows)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def time_report(url: str, period: Period, runs: int) -> tuple[list[float], Any]:
    """Seconds per run of the whole report (after one warm-up run), and the last report."""
    settings = settings_for(url)
    service = StatsService(settings)
    engine = create_engine(url)
    times: list[float] = []
    report = None
    try:
        maker = create_sessionmaker(engine)
        for i in range(runs + 1):
            async with maker() as session:
                t0 = time.perf_counter()
                report = await service.report(session, period)
                if i:
                    times.append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return times, report


async def time_queries(url: str, period: Period, runs: int) -> dict[str, tuple[float, float]]:
    """Median and slowest seconds of each repository query."""
    from bot.db.stats import StatsRepository

    settings = settings_for(url)
    start, end = StatsService(settings).bounds(period)
    engine = create_engine(url)
    out: dict[str, list[float]] = {}
    try:
        async with create_sessionmaker(engine)() as session:
            repo = StatsRepository(session, settings.tz, start, end)
            calls = {
                "questions_by_day": repo.questions_by_day,
                "questions_by_answer": repo.questions_by_answer,
                "askers": repo.askers,
                "unanswered_groups": lambda: repo.unanswered_groups(10),
                "tickets": repo.tickets,
                "applications": repo.applications,
                "decisions": repo.decisions,
                "wizard_runs": lambda: repo.wizard_runs(end),
                "broadcasts": repo.broadcasts,
                "new_users": repo.new_users,
                "active_users": repo.active_users,
            }
            for name, call in calls.items():
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await call()
                    out.setdefault(name, []).append(time.perf_counter() - t0)
    finally:
        await engine.dispose()
    return {k: (statistics.median(v), max(v)) for k, v in out.items()}


async def drop_stats_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for name in STATS_INDEXES:
                await conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def time_charts(report: Any, runs: int, lang: str) -> tuple[dict[str, float], float, int]:
    """Median seconds per chart and for the whole album; the album's size in bytes."""
    try:
        from bot.views.stats_charts import draw_charts
    except ImportError:
        return {}, 0.0, 0
    from bot.i18n import make_i18n, use_locale

    i18n = make_i18n("kk")
    totals: list[float] = []
    per: dict[str, list[float]] = {}
    size = 0
    for i in range(runs + 1):
        with use_locale(i18n, lang):
            t0 = time.perf_counter()
            charts = draw_charts(report, timings=per if i else None)
            if i:
                totals.append(time.perf_counter() - t0)
        size = sum(len(c.png) for c in charts)
    return {k: statistics.median(v) for k, v in per.items()}, statistics.median(totals), size


async def run_backend(name: str, url: str, args: argparse.Namespace, end: datetime) -> None:
    await upgrade(url)
    t0 = time.perf_counter()
    await seed(url, questions=args.questions, tickets=args.tickets, users=args.users, end=end)
    print(
        f"\n== {name}: seeded {args.questions:,} questions, {args.tickets:,} tickets, "
        f"{args.users:,} users in {time.perf_counter() - t0:.1f}s"
    )
    settings = settings_for(url)
    today = end.astimezone(settings.tz).date()
    period = Period(today - timedelta(days=364), today)
    times, report = await time_report(url, period, args.runs)
    median = statistics.median(times)
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"report for a year (load average {load} on {os.cpu_count()} cores): "
        f"median {median:.3f}s of {args.runs} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}) — {verdict} the {TARGET_SECONDS:.0f}s "
        "target"
    )
    print(
        f"  questions {report.questions.total:,}, tickets {report.helpdesk.total.opened:,}, "
        f"broadcasts {len(report.broadcasts)}, user-weeks {len(report.users)}"
    )
    print("  query                    median    slowest")
    for query, (seconds, slowest) in sorted(
        (await time_queries(url, period, args.runs)).items(), key=lambda kv: -kv[1][0]
    ):
        print(f"  {query:<22} {seconds * 1000:8.1f} ms {slowest * 1000:8.1f} ms")
    if STATS_INDEXES:
        await drop_stats_indexes(url)
        base, _ = await time_report(url, period, args.runs)
        print(
            f"baseline without migration 0015's indexes: median {statistics.median(base):.3f}s"
            f" — with them {median / statistics.median(base):.2f}× the time"
        )
    per, album, size = time_charts(report, args.runs, args.lang)
    if per:
        print(
            f"charts ({args.lang}): album of {len(per)} median {album:.3f}s, {size / 1024:.0f} KiB"
        )
        for chart, seconds in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"  {chart:<22} {seconds * 1000:8.1f} ms")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="server for a scratch database")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--questions", type=int, default=200_000)
    parser.add_argument("--tickets", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--lang", default="ru", choices=LANGUAGES)
    args = parser.parse_args()
    end = datetime.now(UTC).replace(microsecond=0)
    print(
        f"last {date.today().year} figures from the lost branch, for reference: "
        "SQLite 2.35 s, PostgreSQL 1.65 s (target < 2 s)"
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            await run_backend("SQLite", f"sqlite+aiosqlite:///{tmp}/stats.db", args, end)
    if args.backend in ("postgres", "both"):
        url, name = await create_database(args.postgres, "bench_stats")
        try:
            await run_backend("PostgreSQL", url, args, end)
        finally:
            await drop_database(args.postgres, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
