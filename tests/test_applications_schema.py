"""The hand-written migration 0003 matches the models exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db.base import Base, create_engine

MY_TABLES = {"applications", "application_events", "application_consents"}


def _mine(diff: object) -> bool:
    """Whether one autogenerate difference concerns this area's tables."""
    items = diff if isinstance(diff, list) else [diff]
    for item in items:
        for part in item if isinstance(item, tuple) else (item,):
            table = getattr(part, "table", None)
            name = getattr(part, "name", None)
            if part in MY_TABLES or getattr(table, "name", None) in MY_TABLES or name in MY_TABLES:
                return True
    return False


async def test_migration_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert [d for d in diffs if _mine(d)] == []
