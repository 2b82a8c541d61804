"""Benchmark (issue 18 item 4): questions per second per process through the web chat, with
64 in flight, next to an echo bot behind the same web channel.

    .venv/bin/python bench/bench_webchat.py                  # SQLite, 64 in flight, 3 runs
    .venv/bin/python bench/bench_webchat.py -n 1280 --in-flight 64 --repeats 3
    .venv/bin/python bench/bench_webchat.py --postgres postgresql+asyncpg://postgres@127.0.0.1/postgres

The bot runs as a process of its own (``--serve``), as in production: the web chat's aiohttp
routes, the intake that stores each question and feeds it to the dispatcher, the session
wrapper that stores each answer and pushes it to the browser. This process plays the
browsers: ``--in-flight`` WebSocket users, each sending its next question as soon as the answer
to the last one arrives (student-style paraphrases in kk/ru/en from bench/data).

* **echo**: ``Dispatcher()`` with one handler that answers the text back, behind the same web
  channel (every question and answer still stored in ``web_messages``).
* **assistant**: :func:`bot.factory.create_dispatcher` exactly as in production (update
  ledger, user row, locale, every router, the question log), cited answers.

Telegram caps a bot at ~30 messages per second; the web channel has no such cap, so the rate
here is the process's own. The per-user limits (``WEB_CHAT_RATE`` and flood control, a few
messages a second per user) are lifted, since 64 users here type far faster than people.
Printed: median questions per second of ``--repeats`` runs for each, their ratio, the bot
process's CPU milliseconds per question (its own clock, not this process's) and latency p50/p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from knowledge.languages import LANGUAGES as LANGS  # noqa: E402

SECRET = "bench-web-chat-secret-0123456789-abcdefghij"


def load_questions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {lang: [] for lang in LANGS}
    path = ROOT / "bench" / "data" / "paraphrases.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row["lang"] in out:
                out[row["lang"]].append(row["question"])
    return out


# --- the bot process ----------------------------------------------------------------------


async def serve(kind: str, database_url: str, port: int) -> None:
    from aiogram import Dispatcher, Router
    from aiogram.types import Message

    from bot.config import Settings
    from bot.db.migrate import upgrade
    from bot.factory import create_app_context, create_bot, create_dispatcher
    from bot.local_session import LocalSession
    from bot.web.ids import UpdateContext, WebIdGuard
    from bot.web.server import WebChat, add_web_chat_routes

    await upgrade(database_url)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        redis_url=None,
        flood_limit=0,
        web_chat_enabled=True,
        web_chat_secret=SECRET,
        web_chat_cookie_secure=False,
        web_chat_rate=1e6,
    )
    ctx = await create_app_context(settings)
    bot = create_bot(settings, session=LocalSession(), token="123456:" + "T" * 35)
    if kind == "echo":
        router = Router(name="echo")

        @router.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        dp = Dispatcher()
        dp.update.outer_middleware(WebIdGuard(ctx.services.webchat.write))
        dp.update.outer_middleware(UpdateContext())
        dp.include_router(router)
    else:
        dp = create_dispatcher(ctx)
    chat = WebChat(settings, dp, bot, ctx.services.webchat, ctx.i18n)
    app = web.Application()
    add_web_chat_routes(app, chat)

    async def cpu(_: web.Request) -> web.Response:
        return web.json_response({"cpu": time.process_time()})

    app.router.add_get("/bench/cpu", cpu)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


# --- the browsers -------------------------------------------------------------------------


class User:
    def __init__(self, base: str, lang: str) -> None:
        self.base = base
        self.lang = lang
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # an IP host
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        async with self.http.get(f"{self.base}/chat?lang={self.lang}") as page:
            assert page.status == 200
        self.ws = await self.http.ws_connect(f"{self.base}/chat/ws", headers={"Origin": self.base})
        await self.ws.send_json({"type": "hello", "after": None})
        while (await self.ws.receive_json()).get("kind") != "history":
            pass

    async def ask(self, text: str) -> float:
        """Send a question; seconds until the answer arrived."""
        assert self.ws is not None
        started = time.perf_counter()
        await self.ws.send_json({"type": "message", "text": text, "lang": self.lang})
        mine = False
        while True:
            frame = await self.ws.receive_json()
            if frame.get("sender") == "user" and frame.get("text") == text:
                mine = True
            elif mine and frame.get("kind") == "message" and frame.get("sender") == "bot":
                return time.perf_counter() - started
            elif frame.get("kind") == "error":
                raise RuntimeError(frame)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


async def server_cpu(base: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/bench/cpu") as response:
        return float((await response.json())["cpu"])


async def one_run(
    base: str, n: int, in_flight: int, questions: dict[str, list[str]], seed: int
) -> tuple[float, float, list[float]]:
    rng = random.Random(seed)
    users = [User(base, LANGS[i % 3]) for i in range(in_flight)]
    await asyncio.gather(*(u.connect() for u in users))
    left = n
    latencies: list[float] = []

    async def browse(user: User) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            latencies.append(await user.ask(rng.choice(questions[user.lang])))

    # One question each first: the users exist and every cache is warm before the clock.
    await asyncio.gather(*(u.ask(rng.choice(questions[u.lang])) for u in users))
    cpu0, t0 = await server_cpu(base), time.perf_counter()
    await asyncio.gather(*(browse(u) for u in users))
    wall, cpu = time.perf_counter() - t0, await server_cpu(base) - cpu0
    await asyncio.gather(*(u.close() for u in users))
    return len(latencies) / wall, 1000 * cpu / len(latencies), latencies


def start_server(kind: str, database_url: str) -> tuple[subprocess.Popen[str], str]:
    from devtools.webchat_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--db", database_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"the {kind} server did not start")
    return proc, f"http://127.0.0.1:{port}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(
    kind: str, database_url: str, args: argparse.Namespace, questions: dict[str, list[str]]
) -> dict[str, Any]:
    proc, base = start_server(kind, database_url)
    try:
        rates, cpus, lat = [], [], []
        for run in range(args.repeats):
            rate, cpu, latencies = await one_run(base, args.n, args.in_flight, questions, run)
            rates.append(rate)
            cpus.append(cpu)
            lat += latencies
        return {
            "per_s": statistics.median(rates),
            "cpu_ms": statistics.median(cpus),
            "p50_ms": 1000 * pct(lat, 0.5),
            "p95_ms": 1000 * pct(lat, 0.95),
            "runs": [round(r, 1) for r in rates],
        }
    finally:
        proc.terminate()
        proc.wait(10)


async def main_async(args: argparse.Namespace) -> None:
    questions = load_questions()
    backends: list[tuple[str, str]] = []
    folder = tempfile.mkdtemp(prefix="bench-webchat-")
    if args.backend in ("sqlite", "all"):
        backends.append(("sqlite", f"sqlite+aiosqlite:///{folder}/{{kind}}.db"))
    if args.postgres and args.backend in ("postgres", "all"):
        backends.append(("postgres", args.postgres))
    print(
        f"web chat, {args.in_flight} in flight, {args.n} questions per run, "
        f"median of {args.repeats} (bot process CPU; {os.cpu_count()} CPUs here)"
    )
    print(
        f"{'backend':9} {'echo q/s':>9} {'assistant q/s':>14} {'ratio':>6} "
        f"{'CPU ms/q echo':>14} {'assistant':>10} {'p50/p95 ms echo':>16} {'assistant':>12}"
    )
    for name, template in backends:
        results = {}
        for kind in ("echo", "assistant"):
            if name == "postgres":
                from devtools.pgdb import create_database, drop_database

                url, db = await create_database(args.postgres, f"bench_webchat_{kind}")
                try:
                    results[kind] = await bench(kind, url, args, questions)
                finally:
                    await drop_database(args.postgres, db)
            else:
                results[kind] = await bench(kind, template.format(kind=kind), args, questions)
        e, a = results["echo"], results["assistant"]
        print(
            f"{name:9} {e['per_s']:9.1f} {a['per_s']:14.1f} {a['per_s'] / e['per_s']:6.2f} "
            f"{e['cpu_ms']:14.2f} {a['cpu_ms']:10.2f} "
            f"{e['p50_ms']:7.0f}/{e['p95_ms']:<8.0f} {a['p50_ms']:5.0f}/{a['p95_ms']:<6.0f}"
        )
        print(f"          runs: echo {e['runs']}, assistant {a['runs']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1280, help="questions per run")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="sqlite")
    parser.add_argument("--postgres", help="a PostgreSQL URL to create bench databases on")
    parser.add_argument("--serve", choices=("echo", "assistant"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.db, args.port))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
