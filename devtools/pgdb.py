"""Scratch PostgreSQL databases for the test suite and the benchmarks: created on the server a
URL points to, dropped afterwards."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import make_url


async def pg_admin(url: str, sql: str) -> None:
    """Run one administrative statement (CREATE/DROP DATABASE) on the server at ``url``."""
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database=u.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(base_url: str, prefix: str) -> tuple[str, str]:
    """A new empty database named ``prefix_<random>``: its URL and its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    await pg_admin(base_url, f'CREATE DATABASE "{name}"')
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), name


async def drop_database(base_url: str, name: str) -> None:
    await pg_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
