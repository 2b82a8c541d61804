"""Ticket and application numbers never come back; the command menu each user was given.

* SQLite reuses the highest row id once that row is deleted (``/forget``), so the next ticket
  or application got the number of the one just erased (``#1`` again, ``DL-2026-00001`` again)
  while staff still had the old one on record. ``AUTOINCREMENT`` makes SQLite keep a high-water
  mark; PostgreSQL's sequences never go back, so nothing changes there.
* ``users.commands_menu``: the role and language whose Telegram command menu the user's chat
  was last given (``BotCommandScopeChat``), so the menu is set again only when one changes.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose ids are shown to people as numbers (ticket #12, DL-2026-00042).
NUMBERED = ("helpdesk_tickets", "applications")


def _rebuild(conn: sa.Connection, table: str, *, autoincrement: bool) -> None:
    """SQLite's table rebuild with or without AUTOINCREMENT on ``id``, keeping every row.

    Dropping the old table deletes its rows first, and with foreign keys on (they cannot be
    switched off inside the migration's transaction) that cascades to the child tables: their
    rows are kept aside and put back once the new table holds the same ids.
    """
    ddl = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if ("AUTOINCREMENT" in ddl.upper()) == autoincrement:
        return
    indexes = [
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    if autoincrement:
        new_ddl = re.sub(
            r"\bid INTEGER NOT NULL,",
            "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,",
            ddl,
            count=1,
        )
        new_ddl = re.sub(r",\s*CONSTRAINT \w+ PRIMARY KEY \(id\)", "", new_ddl, count=1)
    else:
        new_ddl = ddl.replace(
            "id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,", "id INTEGER NOT NULL,", 1
        )
        new_ddl = re.sub(
            r"(\n\s*CONSTRAINT)",
            rf"\n\tCONSTRAINT pk_{table} PRIMARY KEY (id),\1",
            new_ddl,
            count=1,
        )
    assert new_ddl != ddl, f"unexpected DDL for {table}: {ddl}"
    new_ddl = re.sub(rf'^CREATE TABLE "?{table}"?', f'CREATE TABLE "_new_{table}"', new_ddl)

    children = [
        name
        for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if any(
            fk[2] == table
            for fk in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{name}")').fetchall()
        )
    ]
    foreign_keys = bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())
    kept = []
    if foreign_keys:
        for child in children:
            conn.exec_driver_sql(f'CREATE TEMP TABLE "_keep_{child}" AS SELECT * FROM "{child}"')
            kept.append(child)
    conn.exec_driver_sql(new_ddl)
    conn.exec_driver_sql(f'INSERT INTO "_new_{table}" SELECT * FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "_new_{table}" RENAME TO "{table}"')
    for sql in indexes:
        conn.exec_driver_sql(sql)
    for child in kept:
        conn.exec_driver_sql(f'DELETE FROM "{child}"')
        conn.exec_driver_sql(f'INSERT INTO "{child}" SELECT * FROM "_keep_{child}"')
        conn.exec_driver_sql(f'DROP TABLE "_keep_{child}"')


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (a batch rebuild of users would cascade).
    op.add_column("users", sa.Column("commands_menu", sa.String(32), nullable=True))
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for table in NUMBERED:
            _rebuild(conn, table, autoincrement=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for table in NUMBERED:
            _rebuild(conn, table, autoincrement=False)
    # SQLite 3.35+ drops a column in place; a batch rebuild of users would cascade.
    op.execute("ALTER TABLE users DROP COLUMN commands_menu")
