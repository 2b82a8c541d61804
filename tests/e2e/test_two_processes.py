"""End to end: two bot processes behind webhooks share PostgreSQL and Redis.

A load balancer hands each Telegram update to one of the processes; a retry may land on the
other. Here the test is the load balancer: it posts updates to both real ``python -m bot run``
processes (webhook mode, local Bot API server for everything they send) and checks that
every student is answered exactly once, that a wizard begun on one process continues on the
other (FSM state in Redis), that a broadcast delivered by both processes' workers (rows claimed
with ``FOR UPDATE SKIP LOCKED``) reaches each student once, and that ``/healthz`` and
``/metrics`` answer on both.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from devtools.fake_botapi import Call, FakeBotAPI
from devtools.pgdb import create_database, drop_database
from tests.e2e.test_bot_process import (  # noqa: F401  (fixtures)
    START_TIMEOUT,
    TOKEN,
    BotProcess,
    api,
    start_bot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

SECRET = "two-processes-secret_" + uuid.uuid4().hex
PATH = "/telegram/webhook"
STUDENTS = 200
FIRST_USER = 7_200_000
REPLY_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def delivered(call: Call) -> bool:
    return call.answered and call.error_code is None


@pytest.fixture
async def fresh_postgres(postgres_url: str | None) -> AsyncIterator[str]:
    """A database of its own (created and dropped here): the processes migrate it themselves."""
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable")
    url, name = await create_database(postgres_url, "studentbot_two")
    try:
        yield url
    finally:
        await drop_database(postgres_url, name)


@pytest.fixture
async def fresh_redis(redis_url: str) -> AsyncIterator[str]:
    """A Redis database number nobody else uses right now, emptied before and after."""
    from redis.asyncio import Redis

    base = urlsplit(redis_url)
    for index in range(15, 1, -1):
        url = f"redis://{base.hostname or '127.0.0.1'}:{base.port or 6379}/{index}"
        client = Redis.from_url(url)
        try:
            if await client.set("studentbot-test-lock", "1", nx=True, ex=600):
                await client.flushdb()
                await client.set("studentbot-test-lock", "1", ex=600)
                try:
                    yield url
                finally:
                    await client.flushdb()
                return
        finally:
            await client.aclose()
    pytest.skip("no free Redis database")


EXTRA_STUDENTS = 300
SENDER = 7_299_999


async def create_broadcast_now(url: str, marker: str) -> tuple[int, int]:
    """Staff broadcast to every student (the bot's own service); returns id and recipients."""
    from sqlalchemy import func, insert, select

    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.models import User
    from bot.db.models.broadcasts import BroadcastDelivery
    from bot.services.broadcast import create_broadcast

    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            async with session.begin():
                session.add(User(id=SENDER, first_name="Staff", role="staff", language="en"))
                await session.execute(
                    insert(User),
                    [
                        {
                            "id": 7_300_000 + i,
                            "first_name": f"S{i}",
                            "role": "student",
                            "language": ("kk", "ru", "en")[i % 3],
                            "is_active": True,
                        }
                        for i in range(EXTRA_STUDENTS)
                    ],
                )
            async with session.begin():
                sender = await session.get(User, SENDER)
                assert sender is not None
                broadcast = await create_broadcast(
                    session, sender=sender, text=f"<b>Two processes</b> {marker}", audience={}
                )
            recipients = await session.scalar(
                select(func.count())
                .select_from(BroadcastDelivery)
                .where(BroadcastDelivery.broadcast_id == broadcast.id)
            )
            return broadcast.id, int(recipients or 0)
    finally:
        await engine.dispose()


async def broadcast_done(url: str, broadcast_id: int, bot: BotProcess) -> None:
    """The workers mark the broadcast done (polled: the state is in another process's hands)."""
    from bot.db.base import create_engine, create_sessionmaker
    from bot.db.models.broadcasts import Broadcast

    engine = create_engine(url)
    try:

        async def done() -> None:
            while True:  # the state changes in another process: poll with a deadline
                async with create_sessionmaker(engine)() as session:
                    row = await session.get(Broadcast, broadcast_id)
                    if row is not None and row.status == "done":
                        return
                await asyncio.sleep(0.2)

        async def within() -> None:
            async with asyncio.timeout(REPLY_TIMEOUT):
                await done()

        await bot.expect(within(), "the broadcast was never marked done")
    finally:
        await engine.dispose()


class Balancer:
    """Posts updates to the processes' webhooks as Telegram would."""

    def __init__(self, http: aiohttp.ClientSession, ports: list[int]) -> None:
        self.http = http
        self.ports = ports

    async def post(self, port: int, update: dict[str, Any]) -> int:
        async with self.http.post(
            f"http://127.0.0.1:{port}{PATH}",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response:
            return response.status

    async def healthy(self, port: int) -> bool:
        with contextlib.suppress(aiohttp.ClientError):
            async with self.http.get(f"http://127.0.0.1:{port}/healthz") as response:
                return response.status == 200
        return False


async def wait_healthy(balancer: Balancer, bot: BotProcess, port: int) -> None:
    async def poll() -> None:
        # Another process: nothing to await but its answer, so poll with a deadline.
        while not await balancer.healthy(port):  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    async def within() -> None:
        async with asyncio.timeout(START_TIMEOUT):
            await poll()

    await bot.expect(within(), f"the bot on port {port} never became healthy")


async def test_two_processes_answer_each_update_once_and_share_wizard_state(
    api: FakeBotAPI,  # noqa: F811 - the fixture imported above
    start_bot: Callable[..., Awaitable[BotProcess]],  # noqa: F811
    fresh_postgres: str,
    fresh_redis: str,
    tmp_path: Path,
) -> None:
    ports = [free_port(), free_port()]
    bots = []
    for port in ports:
        bots.append(
            await start_bot(
                "run",
                BOT_TOKEN=TOKEN,
                TELEGRAM_API_URL=api.base_url,
                DATABASE_URL=fresh_postgres,
                REDIS_URL=fresh_redis,
                WEBHOOK_URL="https://bot.example.edu/telegram/webhook",
                WEBHOOK_SECRET=SECRET,
                WEBHOOK_HOST="127.0.0.1",
                WEBHOOK_PORT=str(port),
                LOG_LEVEL="INFO",
                BROADCAST_RATE="400",
            )
        )
    async with aiohttp.ClientSession() as http:
        balancer = Balancer(http, ports)
        for bot, port in zip(bots, ports, strict=True):
            await wait_healthy(balancer, bot, port)
        assert [c.params.get("secret_token") for c in api.calls_of("setWebhook")] == [SECRET] * 2

        # 1. Every update reaches BOTH processes (a retry landing elsewhere), concurrently.
        updates = [
            api.push_message(FIRST_USER + i, "/help", language_code="ru") for i in range(STUDENTS)
        ]
        statuses = await asyncio.gather(
            *(balancer.post(port, update) for update in updates for port in ports)
        )
        assert set(statuses) == {200}
        await bots[0].expect(
            api.wait_for("sendMessage", delivered, count=STUDENTS, timeout=REPLY_TIMEOUT),
            "not every student was answered",
        )

        # 2. A wizard begun on one process continues on the other.
        student = FIRST_USER + STUDENTS + 1
        await balancer.post(ports[0], api.push_message(student, "/apply", language_code="en"))
        [menu] = await bots[0].expect(
            api.wait_for(
                "sendMessage",
                lambda c: delivered(c) and c.params.get("chat_id") == student,
                timeout=REPLY_TIMEOUT,
            ),
            "no reply to /apply",
        )
        since = len(api.calls)
        buttons = [b for row in menu.params["reply_markup"]["inline_keyboard"] for b in row]
        dl = next(b["callback_data"] for b in buttons if b["callback_data"].endswith(":dl"))
        await balancer.post(
            ports[1], api.push_callback(student, dl, message_id=menu.result["message_id"])
        )
        [step] = await bots[1].expect(
            api.wait_for(
                "sendMessage",
                lambda c: delivered(c) and c.params.get("chat_id") == student,
                since=since,
                timeout=REPLY_TIMEOUT,
            ),
            "the second process did not continue the wizard",
        )
        step_buttons = [
            b["callback_data"]
            for row in step.params.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        assert any(data.startswith("ap:ground:") for data in step_buttons), step.params

        # 3. A broadcast to every student: one process sends it (it holds the broadcast's
        # lease), at the pace of the budget both share in Redis.
        marker = f"announcement #{uuid.uuid4().hex[:6]}"
        broadcast_id, recipients = await create_broadcast_now(fresh_postgres, marker)
        sent = await bots[0].expect(
            api.wait_for(
                "sendMessage",
                lambda c: delivered(c) and marker in str(c.params.get("text")),
                count=recipients,
                timeout=REPLY_TIMEOUT,
            ),
            "the broadcast did not reach every student",
        )
        assert len(sent) == recipients
        await broadcast_done(fresh_postgres, broadcast_id, bots[0])

        # 4. Both serve /healthz and /metrics; together they handled each update once.
        handled = 0.0
        broadcast_share = []
        for port in ports:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            samples = {
                line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line and not line.startswith("#")
            }
            handled += samples['studentbot_updates_total{type="message"}']
            assert "studentbot_duplicate_updates_total" in samples
            # Messages sent beyond one per handled update: this process's broadcast share.
            broadcast_share.append(
                samples['studentbot_answers_total{method="sendMessage"}']
                - samples['studentbot_updates_total{type="message"}']
                - samples['studentbot_updates_total{type="callback_query"}']
            )
        assert handled == STUDENTS + 1
        assert sum(broadcast_share) == recipients, broadcast_share
        assert sorted(broadcast_share) == [0, recipients], f"one sender: {broadcast_share}"

    # Clean stop of both.
    for bot in bots:
        bot.process.send_signal(signal.SIGTERM)
    for bot in bots:
        async with asyncio.timeout(60):
            assert await bot.process.wait() == 0, bot.log()
        assert "Traceback" not in bot.log_path.read_text(errors="replace"), bot.log()

    per_chat = collections.Counter(
        c.params["chat_id"]
        for c in api.calls_of("sendMessage")
        if delivered(c) and marker not in str(c.params.get("text"))
    )
    assert all(per_chat[FIRST_USER + i] == 1 for i in range(STUDENTS)), [
        (chat, n) for chat, n in per_chat.items() if n != 1
    ][:10]
    announced = collections.Counter(
        c.params["chat_id"]
        for c in api.calls_of("sendMessage")
        if delivered(c) and marker in str(c.params.get("text"))
    )
    assert len(announced) == recipients
    assert {n for n in announced.values()} == {1}, "a student got the broadcast twice"
