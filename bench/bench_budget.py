"""Benchmark: answers before announcements (issue 19), real bot processes, local Bot API server.

    .venv/bin/python bench/bench_budget.py            # full size: 10,000 recipients, 60 s
    .venv/bin/python bench/bench_budget.py --recipients 1500 --duration 20   # a quick run

The local Bot API server (``devtools.fake_botapi.FakeBotAPI``, in this process) answers 429
as Telegram does: above 30 sends a second in all, above 5 in 5 s to a private chat, above 20 a
minute to a group. The bot runs as real ``studentbot run`` processes in webhook mode (this
script plays Telegram and the load balancer: it posts each student's updates to one of them),
on PostgreSQL, with Redis when there are two processes (one process: the in-process budget).

For one process and for two, two runs: 20 simulated students ask questions for ``--duration``
seconds (each waits for the answer, thinks 1-4 s, asks again), first alone (the baseline),
then while a ``--recipients`` broadcast is being delivered. Printed per configuration: the
reply latency (median, p95) during the broadcast next to the baseline's (target p95 < 1 s), the
overall send rate at the server (mean and the busiest second; Telegram's limit 30/s), the 429s
(target 0), the broadcast's throughput while students asked, as a share of what their answers
left of 30/s (target >= 80 %) and of the budget's own ceiling, and once the broadcast finished,
duplicates and lost recipients (targets 0), counted from the server's records.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from bot.budget import SEND_METHODS, WINDOW  # noqa: E402
from bot.db.base import create_engine, create_sessionmaker  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import User  # noqa: E402
from bot.db.models.broadcasts import Broadcast  # noqa: E402
from devtools.fake_botapi import BotAPIError, FakeBotAPI  # noqa: E402
from devtools.pgdb import create_database, drop_database  # noqa: E402

TOKEN = "123456:" + "E" * 35
SECRET = "bench-budget-secret"
ADMIN_ID = 900
FIRST_RECIPIENT = 10_000_000
FIRST_STUDENT = 20_000_000
STUDENTS = 20
TELEGRAM_LIMIT = 30
QUESTIONS = [
    "Can I study law online?",
    "Қашықтан оқуға қалай өтініш беремін?",
    "Какие документы нужны для дистанционного обучения?",
    "Who may study at a distance?",
    "Можно ли учиться онлайн если я работаю?",
    "Онлайн оқу мен қашықтан оқудың айырмашылығы қандай?",
    "How many subjects can be taken remotely?",
    "Сколько дисциплин можно изучать дистанционно?",
]


class RecordingAPI(FakeBotAPI):
    """The local server, keeping (time, method, chat, ok) of each call and waking the students
    waiting for an answer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[tuple[float, str, int | None, bool]] = []
        self.waiting: dict[int, asyncio.Future[float]] = {}
        self.texts: dict[int, list[str]] = collections.defaultdict(list)

    async def _answer(self, token: str, method: str, params: dict[str, Any]) -> Any:
        chat = params.get("chat_id")
        chat_id = (
            int(chat) if isinstance(chat, int | str) and str(chat).lstrip("-").isdigit() else None
        )
        try:
            result = await super()._answer(token, method, params)
        except BotAPIError:
            self.log.append((time.monotonic(), method, chat_id, False))
            raise
        now = time.monotonic()
        self.log.append((now, method, chat_id, True))
        if chat_id is not None and method in ("sendMessage", "editMessageText"):
            self.texts[chat_id].append(str(params.get("text", "")))
        if method == "sendMessage" and chat_id in self.waiting:
            future = self.waiting.pop(chat_id)
            if not future.done():
                future.set_result(now)
        return result


@dataclass
class RunFigures:
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    started: float = 0.0
    ended: float = 0.0


# Database ---------------------------------------------------------------------------------------


async def prepare_db(url: str, recipients: int) -> None:
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            session.add(User(id=ADMIN_ID, first_name="Admin", role="admin", language="en"))
            rows = [
                {
                    "id": FIRST_RECIPIENT + i,
                    "first_name": f"R{i}",
                    "role": "student",
                    "language": ("kk", "ru", "en")[i % 3],
                    "is_active": True,
                }
                for i in range(recipients)
            ]
            for start in range(0, len(rows), 2000):
                await session.execute(insert(User), rows[start : start + 2000])
    finally:
        await engine.dispose()


async def start_broadcast(url: str, progress_message_id: int) -> int:
    from bot.services.broadcast import create_broadcast

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            admin = await session.get(User, ADMIN_ID)
            assert admin is not None
            b = await create_broadcast(
                session,
                sender=admin,
                text="<b>Benchmark</b> announcement: the exam timetable is out.",
                audience={"roles": ["student"]},
            )
            b.progress_chat_id, b.progress_message_id = ADMIN_ID, progress_message_id
            return b.id
    finally:
        await engine.dispose()


async def broadcast_status(url: str, broadcast_id: int) -> str:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return str(
                await session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
            )
    finally:
        await engine.dispose()


# Bot processes ----------------------------------------------------------------------------------


async def start_bots(
    n: int, api: RecordingAPI, url: str, redis_url: str | None, base_port: int, logdir: Path
) -> list[tuple[asyncio.subprocess.Process, int]]:
    procs = []
    for k in range(n):
        port = base_port + k
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "DATABASE_URL": url,
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_HOST": "127.0.0.1",
            "WEBHOOK_PORT": str(port),
            "ADMIN_IDS": str(ADMIN_ID),
            "LOG_LEVEL": "WARNING",
        }
        env.pop("REDIS_URL", None)
        env.pop("STAFF_CHAT_ID", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
        out = (logdir / f"bot{k}.log").open("ab")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, stdout=out, stderr=out, cwd=ROOT
        )
        procs.append((proc, port))
    async with aiohttp.ClientSession() as http:
        for proc, port in procs:
            for _ in range(600):
                if proc.returncode is not None:
                    raise RuntimeError(f"bot process exited ({proc.returncode}); see {logdir}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"bot on port {port} did not become healthy")
    return procs


async def stop_bots(procs: list[tuple[asyncio.subprocess.Process, int]]) -> None:
    for proc, _port in procs:
        if proc.returncode is None:
            proc.terminate()
    for proc, _port in procs:
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# What the processes counted (/metrics) ----------------------------------------------------------

COUNTED = ("studentbot_budget_", "studentbot_broadcast_worker_", "studentbot_broadcast_claims")


async def scrape(http: aiohttp.ClientSession, ports: list[int]) -> dict[str, float]:
    """The budget's and the delivery workers' counters, summed over the processes."""
    from prometheus_client.parser import text_string_to_metric_families

    total: dict[str, float] = collections.defaultdict(float)
    for port in ports:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            if not family.name.startswith(COUNTED):
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                total[f"{family.name}{{{labels}}}"] += sample.value
    return dict(total)


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


# Students ---------------------------------------------------------------------------------------


class Telegram:
    """Posts updates to the bot processes, each student always to the same one."""

    def __init__(self, http: aiohttp.ClientSession, ports: list[int]) -> None:
        self.http = http
        self.ports = ports
        self.update_ids = iter(range(1, 10**9))
        self.message_ids = iter(range(1, 10**9))

    async def say(self, user_id: int, text: str, lang: str = "en") -> None:
        port = self.ports[user_id % len(self.ports)]
        update = {
            "update_id": next(self.update_ids),
            "message": {
                "message_id": next(self.message_ids),
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": f"S{user_id}"},
                "from": {
                    "id": user_id,
                    "is_bot": False,
                    "first_name": f"S{user_id}",
                    "language_code": lang,
                },
                "text": text,
            },
        }
        async with self.http.post(
            f"http://127.0.0.1:{port}/telegram/webhook",
            data=json.dumps(update),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": SECRET,
            },
        ) as response:
            response.raise_for_status()


async def students(
    api: RecordingAPI, telegram: Telegram, duration: float, rng: random.Random
) -> RunFigures:
    figures = RunFigures(started=time.monotonic())
    end = figures.started + duration
    loop = asyncio.get_running_loop()

    async def student(k: int) -> None:
        user_id = FIRST_STUDENT + k
        await asyncio.sleep(rng.uniform(0, 2))
        while time.monotonic() < end:
            future: asyncio.Future[float] = loop.create_future()
            api.waiting[user_id] = future
            asked = time.monotonic()
            await telegram.say(user_id, rng.choice(QUESTIONS), rng.choice(["kk", "ru", "en"]))
            try:
                answered = await asyncio.wait_for(future, 30)
                figures.latencies.append(answered - asked)
            except TimeoutError:
                figures.unanswered += 1
                api.waiting.pop(user_id, None)
            await asyncio.sleep(rng.uniform(1, 4))

    await asyncio.gather(*(student(k) for k in range(STUDENTS)))
    figures.ended = time.monotonic()
    return figures


# One configuration ------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_second(
    sends: list[tuple[float, str, int | None, bool]],
    started: float,
    ended: float,
    recipients: set[int],
) -> list[tuple[int, int]]:
    """(broadcast sends, other sends) in each whole second of the students' run."""
    seconds = int(ended - started)
    out = [[0, 0] for _ in range(seconds)]
    for at, _method, chat, _ok in sends:
        k = int(at - started)
        if 0 <= k < seconds:
            out[k][0 if chat in recipients else 1] += 1
    return [(b, o) for b, o in out]


def busiest_second(times: list[float]) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def one_configuration(
    processes: int, args: argparse.Namespace, api: RecordingAPI, logdir: Path
) -> dict[str, Any]:
    redis_url = args.redis if processes > 1 else None
    if redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(match="studentbot*")]
        if keys:  # a clean budget and FSM for this configuration
            await redis.delete(*keys)
        await redis.aclose()
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"processes": processes, "budget": "Redis" if redis_url else "process"}
    for phase in ("baseline", "broadcast"):
        url, name = await create_database(args.postgres, "bench_budget")
        try:
            await prepare_db(url, args.recipients if phase == "broadcast" else 0)
            procs = await start_bots(processes, api, url, redis_url, args.port, logdir)
            try:
                async with aiohttp.ClientSession() as http:
                    telegram = Telegram(http, [port for _proc, port in procs])
                    # Warm-up: each process answers once before anything is measured.
                    for k in range(processes):
                        await telegram.say(FIRST_STUDENT + 1000 + k, "/start")
                    await asyncio.sleep(2)
                    since = len(api.log)
                    limited, chat_limited = api.rate_limited, api.chat_limited
                    broadcast_id = None
                    if phase == "broadcast":
                        progress = await api._m_sendMessage(
                            TOKEN, {"chat_id": ADMIN_ID, "text": "Broadcast: starting…"}
                        )
                        broadcast_id = await start_broadcast(url, progress["message_id"])
                        await asyncio.sleep(2)  # the workers pick it up within a second or so
                    ports = [port for _proc, port in procs]
                    counted_before = await scrape(http, ports)
                    figures = await students(api, telegram, args.duration, rng)
                    counted = delta(await scrape(http, ports), counted_before)
                    window = [
                        e for e in api.log[since:] if figures.started <= e[0] <= figures.ended
                    ]
                    result = {
                        "latencies": figures.latencies,
                        "unanswered": figures.unanswered,
                        "seconds": figures.ended - figures.started,
                        "started": figures.started,
                    }
                    sends = [e for e in window if e[1] in SEND_METHODS and e[3]]
                    recipients = range(FIRST_RECIPIENT, FIRST_RECIPIENT + args.recipients)
                    to_recipients = [e for e in sends if e[2] is not None and e[2] in recipients]
                    result["counted"] = counted
                    result["per_second"] = per_second(
                        sends, figures.started, figures.ended, set(recipients)
                    )
                    result["rejected"] = [
                        (
                            e,
                            sum(
                                1
                                for f in api.log
                                if f[3] and f[1] in SEND_METHODS and e[0] - 1.0 < f[0] <= e[0]
                            ),
                        )
                        for e in window
                        if not e[3]
                    ]
                    result["sends"] = len(sends)
                    result["broadcast_sends"] = len(to_recipients)
                    result["busiest"] = busiest_second([e[0] for e in sends])
                    if broadcast_id is not None:
                        deadline = time.monotonic() + args.recipients / 10 + 300
                        while time.monotonic() < deadline:
                            if await broadcast_status(url, broadcast_id) == "done":
                                break
                            await asyncio.sleep(1)
                        per_chat = collections.Counter(
                            e[2]
                            for e in api.log[since:]
                            if e[1] == "sendMessage" and e[3] and e[2] in recipients
                        )
                        after = [
                            e[0]
                            for e in api.log[since:]
                            if e[0] > figures.ended + 5
                            and e[1] == "sendMessage"
                            and e[3]
                            and e[2] in recipients
                        ]
                        result["alone"] = (
                            (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else 0.0
                        )
                        result["duplicates"] = sum(max(0, n - 1) for n in per_chat.values())
                        result["lost"] = sum(1 for c in recipients if per_chat[c] == 0)
                        result["status"] = await broadcast_status(url, broadcast_id)
                        result["progress"] = list(api.texts.get(ADMIN_ID, []))
                    result["429s"] = api.rate_limited - limited
                    result["chat429s"] = api.chat_limited - chat_limited
            finally:
                await stop_bots(procs)
        finally:
            await drop_database(args.postgres, name)
        out[phase] = result
    return out


def report(r: dict[str, Any]) -> bool:
    base, busy = r["baseline"], r["broadcast"]
    seconds = busy["seconds"]
    others = (busy["sends"] - busy["broadcast_sends"]) / seconds
    left = TELEGRAM_LIMIT - others
    rate = busy["broadcast_sends"] / seconds
    ceiling = TELEGRAM_LIMIT / WINDOW - others
    share, share_budget = 100 * rate / left, 100 * rate / ceiling
    p95_busy, p95_base = p95(busy["latencies"]), p95(base["latencies"])
    ok = (
        p95_busy < 1.0
        and busy["429s"] == 0
        and base["429s"] == 0
        and busy["busiest"] <= TELEGRAM_LIMIT
        and share >= 80
        and busy.get("duplicates", 1) == 0
        and busy.get("lost", 1) == 0
    )
    print(f"\n== {r['processes']} bot process(es), budget in {r['budget']}", flush=True)
    print(
        f"  reply latency, no broadcast (baseline, same run): median "
        f"{median(base['latencies']):.3f}s p95 {p95_base:.3f}s ({len(base['latencies'])} "
        f"answers, {base['unanswered']} unanswered, 429s {base['429s']}, "
        f"{base['sends'] / base['seconds']:.1f} sends/s)"
    )
    print(
        f"  reply latency, during broadcast: median {median(busy['latencies']):.3f}s "
        f"p95 {p95_busy:.3f}s ({len(busy['latencies'])} answers, {busy['unanswered']} unanswered)"
        f" -> p95 {p95_busy / p95_base:.2f}x, median "
        f"{median(busy['latencies']) / median(base['latencies']):.2f}x the baseline "
        f"(target p95 < 1 s)"
    )
    print(
        f"  send rate at the server: mean {busy['sends'] / seconds:.1f}/s, busiest second "
        f"{busy['busiest']} (limit {TELEGRAM_LIMIT}); 429s {busy['429s']} (target 0; "
        f"{busy['chat429s']} of them a chat's limit)"
    )
    for (at, method, chat, _ok), before in busy.get("rejected", []):
        kind = "broadcast" if chat is not None and chat < FIRST_STUDENT else "reply/other"
        print(
            f"    429 at +{at - busy['started']:.2f}s: {method} to {chat} ({kind}); the server "
            f"had accepted {before} sends in the second before it"
        )
    print(
        f"  what is left = {TELEGRAM_LIMIT}/s - everything but the broadcast sent while students "
        f"asked (answers, progress edits: {others:.1f}/s) = {left:.1f}/s"
    )
    print(
        f"  broadcast while students asked: {rate:.1f}/s -> {share:.0f}% of what was left "
        f"(target >= 80%); {share_budget:.0f}% of what the budget's ceiling left "
        f"({TELEGRAM_LIMIT}/{WINDOW}s = {TELEGRAM_LIMIT / WINDOW:.1f}/s)"
    )
    seconds_ = [(b, o) for b, o in busy.get("per_second", []) if o < TELEGRAM_LIMIT]
    if seconds_:
        shares = [100 * b / (TELEGRAM_LIMIT - o) for b, o in seconds_]
        print(
            f"    per second: broadcast median {median([b for b, _ in seconds_]):.0f}/s, others "
            f"median {median([o for _, o in seconds_]):.0f}/s, share of what was left median "
            f"{median(shares):.0f}% (lowest decile {sorted(shares)[len(shares) // 10]:.0f}%)"
        )
    alone = busy.get("alone", 0.0)
    print(
        f"  the same broadcast alone (baseline, after the students stopped): {alone:.1f}/s -> "
        f"while they asked it kept {100 * rate / alone if alone else float('nan'):.0f}% of it"
    )
    print(
        f"  broadcast {busy.get('status')}: duplicates {busy.get('duplicates')}, "
        f"lost {busy.get('lost')} (targets 0)"
    )
    explain(busy.get("counted", {}), seconds)
    reasons = [t.splitlines()[-1] for t in busy.get("progress", []) if "student" in t]
    if reasons:
        print(f"  progress said: «{reasons[0]}» ({len(reasons)} of {len(busy['progress'])} edits)")
    print(f"  {'OK' if ok else 'MISSED'}", flush=True)
    return ok


def explain(counted: dict[str, float], seconds: float) -> None:
    """Why the broadcast went at the pace it did, from the processes' own counters over the
    students' run: the budget's refusals by reason, and where the workers' time went."""

    def pick(prefix: str, **labels: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in counted.items():
            name, _, rest = key.partition("{")
            if name != prefix:
                continue
            parts = dict(p.split("=", 1) for p in rest.rstrip("}").split(",") if p)
            if all(parts.get(k) == v for k, v in labels.items()):
                keys = ("reason", "step", "scope", "what")
                what = next((parts[k] for k in keys if parts.get(k)), "")
                out[what] = out.get(what, 0.0) + value
        return out

    for cls in ("broadcast", "reply"):
        slots = sum(pick("studentbot_budget_slots", cls=cls).values())
        refusals = pick("studentbot_budget_refusals", cls=cls)
        waits = pick("studentbot_budget_wait_seconds", cls=cls)
        flight = sum(pick("studentbot_budget_request_seconds", cls=cls).values())
        detail = ", ".join(
            f"{reason} {int(n)} ({waits.get(reason, 0.0):.1f}s)"
            for reason, n in sorted(refusals.items(), key=lambda kv: -kv[1])
        )
        print(
            f"  budget, {cls}: {int(slots)} slots; refusals by reason (seconds waited, summed "
            f"over senders): {detail or 'none'}; Bot API calls in flight {flight:.1f}s"
        )
    retry = pick("studentbot_budget_retry_after")
    if retry:
        print(f"  429s the bots met, by what they paused: {retry}")
    steps = pick("studentbot_broadcast_worker_seconds")
    if steps:
        budget_wait = sum(pick("studentbot_budget_wait_seconds", cls="broadcast").values())
        flight = sum(pick("studentbot_budget_request_seconds", cls="broadcast").values())
        round_trips = steps.pop("claim_round_trip", 0.0)
        total = sum(steps.values())
        send = steps.get("send", 0.0)
        parts = {
            "claim rows (DB)": steps.get("claim", 0.0),
            "wait for the budget": budget_wait,
            "Bot API call": flight,
            "send, rest (rendering, aiogram)": max(send - budget_wait - flight, 0.0),
            "mark rows (DB)": steps.get("mark", 0.0),
        }
        shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts.items() if total)
        print(f"  delivery workers' time ({total:.0f} worker-seconds in {seconds:.0f}s): {shares}")
        claims = pick("studentbot_broadcast_claims")
        if claims:
            print(
                f"  claims: {int(claims.get('rows', 0))} rows in "
                f"{int(claims.get('round_trips', 0))} database round trips ({round_trips:.1f}s, "
                f"the next batch claimed while the workers send)"
            )


async def bench(args: argparse.Namespace) -> int:
    print(
        f"budget benchmark: {STUDENTS} students for {args.duration:.0f}s, broadcast to "
        f"{args.recipients}; local Bot API server: 429 above {TELEGRAM_LIMIT}/s, 5 in 5 s a "
        f"chat, 20/min a group",
        flush=True,
    )
    logdir = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    ok = True
    async with RecordingAPI(
        token=TOKEN,
        rate_limit_per_second=TELEGRAM_LIMIT,
        chat_limit=(5, 5.0),
        group_limit=(20, 60.0),
    ) as api:
        for processes in args.processes:
            result = await one_configuration(processes, args, api, logdir)
            ok = report(result) and ok
    print(f"\nbot logs: {logdir}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds students ask")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--port", type=int, default=18480, help="first webhook port")
    parser.add_argument("--seed", type=int, default=19)
    return asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
