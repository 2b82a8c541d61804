"""The schema comes only from Alembic, and the migrations match the models on both backends."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.db.base import Base, create_engine
from bot.db.migrate import downgrade_sync, upgrade_sync


async def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            def run(sync_conn):  # type: ignore[no-untyped-def]
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata)

            return await conn.run_sync(run)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_models(database_url: str) -> None:
    diff = await _diff(database_url)
    # Index-only differences of SQLite reflection are not schema drift worth failing on.
    real = [
        d for d in diff if not (isinstance(d, tuple) and d[0] in {"remove_index", "add_index"})
    ]
    assert not real, f"models and migrations differ: {real[:5]}"


async def test_downgrade_to_base_and_upgrade_again(sqlite_url: str) -> None:
    await asyncio.to_thread(downgrade_sync, sqlite_url, "base")
    assert await _tables(sqlite_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade_sync, sqlite_url)
    assert {"users", "fsm_state"} <= await _tables(sqlite_url)


def test_one_head() -> None:
    """New migrations need a single parent: the area branches are merged."""
    from alembic.script import ScriptDirectory

    from bot.db.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1
