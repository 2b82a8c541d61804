"""Webhook mode: Telegram's secret header is required, updates are answered fast and handled
in the background, ``/healthz`` reports the database, ``/metrics`` speaks Prometheus text."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.methods import SendMessage
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.config import ConfigError, Settings
from bot.db.base import create_engine
from bot.db.models.reliability import InboxUpdate
from bot.metrics import metrics
from bot.reliability import Reliability
from bot.webhook import HANDLER_KEY, SECRET_HEADER, build_webhook_app, webhook_secret
from tests.harness import STUDENT, Harness

SECRET = "s3cret-Token_for-the_webhook"
PATH = "/telegram/webhook"


@pytest.fixture
async def hooked(database_url: str) -> AsyncIterator[tuple[Harness, TestClient[Any, Any]]]:
    harness = await Harness.create(database_url)
    app = build_webhook_app(harness.ctx, harness.bot, harness.dp, secret=SECRET, path=PATH)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield harness, client
    finally:
        await client.close()
        await harness.close()


def update(harness: Harness, update_id: int, text: str = "/help") -> dict[str, Any]:
    return {"update_id": update_id, "message": harness.message_payload(STUDENT, text=text)}


async def handled(client: TestClient[Any, Any]) -> None:
    """Until the updates posted so far are handled (in background tasks, as in production)."""
    async with asyncio.timeout(10):
        await client.server.app[HANDLER_KEY].wait_handled()


async def test_telegram_with_the_right_secret_gets_200_and_the_student_an_answer(
    hooked: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = hooked
    response = await client.post(PATH, json=update(harness, 1), headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    await handled(client)
    assert "/rules" in harness.last_text(STUDENT.id)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: SECRET[:-1]},
        {SECRET_HEADER: SECRET + "x"},
        {SECRET_HEADER: "Ключ-не-тот"},  # non-ASCII must be a 401, not a 500
    ],
    ids=["missing", "empty", "wrong", "prefix", "longer", "non-ascii"],
)
async def test_a_wrong_or_missing_secret_is_401_and_nothing_is_handled(
    hooked: tuple[Harness, TestClient[Any, Any]], headers: dict[str, str]
) -> None:
    harness, client = hooked
    response = await client.post(PATH, json=update(harness, 2), headers=headers)
    assert response.status == 401
    assert harness.session.requests == []
    reliability: Reliability = harness.dp["reliability"]
    assert reliability.in_flight.count == 0


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "7"}', b""]
)
async def test_a_body_that_is_not_an_update_is_400(
    hooked: tuple[Harness, TestClient[Any, Any]], body: bytes
) -> None:
    harness, client = hooked
    response = await client.post(
        PATH, data=body, headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert harness.session.requests == []


async def test_a_malformed_message_is_400_logged_once_without_a_traceback(
    hooked: tuple[Harness, TestClient[Any, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    harness, client = hooked
    before = metrics.value("studentbot_poison_updates_total")
    body = {"update_id": 11, "message": {"message_id": "not a number", "text": "hi"}}
    response = await client.post(PATH, json=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 400
    assert (await response.json())["error"] == "malformed update"
    await handled(client)
    assert harness.session.requests == []
    assert metrics.value("studentbot_poison_updates_total") == before + 1
    [record] = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert record.exc_info is None
    assert not [r for r in caplog.records if r.exc_info]
    async with harness.ctx.sessionmaker() as session:  # kept for inspection
        kept = await session.get(InboxUpdate, (harness.bot.id, 11))
        assert kept is not None and kept.status == "poison" and "message_id" in (kept.error or "")
    # the next update is handled as usual
    response = await client.post(PATH, json=update(harness, 12), headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    await handled(client)
    assert "/rules" in harness.last_text(STUDENT.id)


async def test_a_retried_webhook_update_is_answered_once(
    hooked: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = hooked
    body = json.dumps(update(harness, 9))
    for _ in range(3):
        response = await client.post(
            PATH,
            data=body,
            headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"},
        )
        assert response.status == 200
    await handled(client)
    reliability: Reliability = harness.dp["reliability"]
    await reliability.in_flight.wait_idle()
    assert len(harness.session.of(SendMessage)) == 1


async def test_healthz_reports_the_database_and_metrics_count_the_update(
    hooked: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = hooked
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] == "ok"

    await client.post(PATH, json=update(harness, 3), headers={SECRET_HEADER: SECRET})
    await handled(client)
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    for name in (
        "studentbot_updates_total",
        "studentbot_answers_total",
        "studentbot_handoffs_total",
        "studentbot_broadcast_deliveries_total",
        "studentbot_errors_total",
        "studentbot_handler_seconds_bucket",
    ):
        assert name in text, name


async def test_healthz_is_503_when_the_database_is_gone(
    hooked: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = hooked
    working = harness.ctx.engine
    harness.ctx.engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/gone")
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"].startswith("unavailable")
    finally:
        await harness.ctx.engine.dispose()
        harness.ctx.engine = working
    assert (await client.get("/healthz")).status == 200


async def test_healthz_is_503_unless_the_schema_is_at_the_code_s_head(
    hooked: tuple[Harness, TestClient[Any, Any]], tmp_path: Path
) -> None:
    harness, client = hooked
    async with harness.ctx.engine.begin() as conn:
        head = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == f"schema at 0001, code needs {head}"
    finally:
        async with harness.ctx.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert (await client.get("/healthz")).status == 200
    # A database nobody migrated (no tables at all) is not healthy either.
    working = harness.ctx.engine
    harness.ctx.engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        response = await client.get("/healthz")
        assert response.status == 503
    finally:
        await harness.ctx.engine.dispose()
        harness.ctx.engine = working


async def test_while_draining_new_updates_are_refused_and_healthz_is_503(
    hooked: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = hooked
    reliability: Reliability = harness.dp["reliability"]
    assert await reliability.drain(1.0) is True
    response = await client.post(PATH, json=update(harness, 4), headers={SECRET_HEADER: SECRET})
    assert response.status == 503  # Telegram retries it, at another process or after restart
    assert (await client.get("/healthz")).status == 503
    assert harness.session.requests == []


def test_webhook_mode_needs_a_well_formed_secret() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is not set"):
        webhook_secret(Settings(_env_file=None))  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET is malformed"):
        webhook_secret(Settings(_env_file=None, webhook_secret="has space"))  # type: ignore[call-arg]
    assert webhook_secret(Settings(_env_file=None, webhook_secret=SECRET)) == SECRET  # type: ignore[call-arg]


async def test_polling_mode_serves_healthz_and_metrics_on_their_own_port(sqlite_url: str) -> None:
    from bot.webhook import build_health_app

    harness = await Harness.create(sqlite_url)
    client = TestClient(TestServer(build_health_app(harness.ctx, harness.dp["reliability"])))
    await client.start_server()
    try:
        await harness.send("/help")
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["database"] == "ok"
        text = await (await client.get("/metrics")).text()
        assert 'studentbot_updates_total{type="message"}' in text
        assert (await client.post(PATH, json={"update_id": 1})).status in (404, 405)
    finally:
        await client.close()
        await harness.close()


async def test_area_counters_move_with_what_users_do(harness) -> None:  # type: ignore[no-untyped-def]
    """Questions answered and helpdesk hand-offs show up in /metrics' counters."""
    from bot.metrics import metrics
    from tests.harness import STUDENT_EN

    asked = metrics.value("studentbot_questions_answered_total")
    await harness.send("Can I study law online?", user=STUDENT_EN)
    assert metrics.value("studentbot_questions_answered_total") == asked + 1
