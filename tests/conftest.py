"""Fixtures: a migrated database per test on SQLite and on PostgreSQL, and a bot harness.

PostgreSQL is used when ``TEST_POSTGRES_URL`` is set (``.ci/run`` sets it) or a server answers
on 127.0.0.1:5432; each test session gets its own database, created and dropped here, so
parallel runs never share rows. ``REQUIRE_POSTGRES=1`` turns "not reachable" into a failure.
Redis likewise: ``TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db.base import Base, create_engine
from bot.db.migrate import upgrade_sync
from devtools.pgdb import pg_admin
from tests.harness import Harness

# The question matcher's disk cache of this test run (the bot processes it starts inherit it),
# never the working tree's data/cache.
if "SEARCH_CACHE_DIR" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="studentbot-search-cache-")
    os.environ["SEARCH_CACHE_DIR"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, True)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _require(name: str) -> bool:
    return os.environ.get(f"REQUIRE_{name}", "") == "1"


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run blocking set-up (which may start its own event loop) off the test's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def _pg_admin_sync(url: str, sql: str) -> None:
    asyncio.run(pg_admin(url, sql))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh, migrated PostgreSQL database for this test session, or None when unavailable."""
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"studentbot_test_{uuid.uuid4().hex[:10]}"
    try:
        _in_thread(_pg_admin_sync, base, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if _require("POSTGRES"):
            pytest.fail(f"PostgreSQL required but not reachable at {base}: {exc}")
        yield None
        return
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    _in_thread(upgrade_sync, url)
    try:
        yield url
    finally:
        _in_thread(_pg_admin_sync, base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _in_thread(upgrade_sync, f"sqlite+aiosqlite:///{path}")
    return path


async def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            if tables:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """A migrated, empty database: every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    if url is None:
        pytest.skip("PostgreSQL not reachable (set TEST_POSTGRES_URL)")
    await _truncate_pg(url)
    yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, for tests whose subject is not the database."""
    path = tmp_path / "bot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    h = await Harness.create(database_url)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        if _require("REDIS"):
            pytest.fail(f"Redis required but not reachable at {url}: {exc}")
        pytest.skip(f"Redis not reachable at {url}")
    return url
