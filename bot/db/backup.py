"""``studentbot db backup``: a consistent copy of a SQLite database, taken while the bot runs.

SQLite's online backup API copies page by page and starts again if a writer changes a page
already copied, so the copy is a snapshot even with the bot writing (WAL included). For
PostgreSQL the README points to ``pg_dump``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory SQLite database cannot be backed up")
    return Path(database).expanduser()


def backup_sqlite(database_url: str, output: str | None = None) -> Path:
    """Copy the database to ``output`` (default ``backup-<UTC time>.db`` beside it)."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise FileNotFoundError(f"no database file at {source_path}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = Path(output) if output else source_path.with_name(f"backup-{stamp}.db")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy, pages=1024)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        source.close()
    partial.replace(target)
    return target
