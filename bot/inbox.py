"""The update inbox: every update is in the database before Telegram is told it arrived.

* :meth:`Inbox.store` writes a batch (polling: before the next ``getUpdates`` moves the offset;
  webhook: before the 200), ignoring updates already stored (a redelivery).
* :meth:`Inbox.claim` gives a worker the oldest pending rows and leases them for
  ``UPDATE_LEASE_SECONDS``: any number of processes can share one inbox (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL), and rows whose process died are taken again when the lease runs
  out. On SQLite only one process runs, so at start it takes back every lease at once.
* A handled update is marked ``done`` in the commit that ends its handling
  (:mod:`bot.middlewares.session`); one whose handler failed is marked done with
  the error (it is not retried: the user was told). One that cannot be parsed is kept as
  ``poison`` for inspection. Done and poison rows are pruned after the retention window.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import DriverStatement, SessionScope, all_rows, run_driver, utcnow
from bot.db.models.reliability import InboxUpdate, UpdateCall
from bot.metrics import metrics as default_metrics

log = logging.getLogger(__name__)

PENDING, DONE, POISON = "pending", "done", "poison"

_INBOX: Table = InboxUpdate.__table__  # type: ignore[assignment]
# Marking a row done is on every update's path: built once, the values come as parameters,
# sent as SQL compiled once (issue 18, :class:`bot.db.base.DriverStatement`).
_MARK_DONE = DriverStatement(
    update(_INBOX)
    .where(_INBOX.c.bot_id == bindparam("bot"), _INBOX.c.update_id == bindparam("update"))
    .values(status=DONE, lease_until=None, done_at=bindparam("when"), error=bindparam("why"))
)


def _claim_statement(skip_locked: bool) -> Any:
    """Lease the oldest free pending rows and return them, in one statement."""
    c = _INBOX.c
    oldest_free = (
        select(c.update_id)
        .where(
            c.bot_id == bindparam("bot"),
            c.status == PENDING,
            or_(c.lease_until.is_(None), c.lease_until < bindparam("now")),
        )
        .order_by(c.update_id)
        .limit(bindparam("limit"))
    )
    if skip_locked:
        # PostgreSQL: rows another process is leasing right now are passed over. Picked once,
        # in a materialized CTE: as ``IN (subquery)`` the planner may run the subquery again
        # for each row, and each run skips the rows just locked and picks more than ``limit``.
        picked = oldest_free.with_for_update(skip_locked=True).cte("picked")
        where = c.update_id == picked.prefix_with("MATERIALIZED").c.update_id
    else:  # SQLite: one process, one writer
        where = c.update_id.in_(oldest_free.scalar_subquery())
    return DriverStatement(
        update(_INBOX)
        .where(c.bot_id == bindparam("bot"), where)
        .values(
            lease_until=bindparam("until"), lease_owner=bindparam("owner"), attempts=c.attempts + 1
        )
        .returning(c.update_id, c.payload, c.attempts)
    )


_CLAIMS = {False: _claim_statement(False), True: _claim_statement(True)}  # by skip_locked
_STORE = {  # by dialect (is it PostgreSQL): a batch of updates, those not stored before returned
    postgres: (pg_insert if postgres else sqlite_insert)(_INBOX)
    .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    .returning(_INBOX.c.update_id)
    for postgres in (False, True)
}


@dataclass(frozen=True)
class Claimed:
    update_id: int
    payload: dict[str, Any]
    attempt: int  # 1 the first time; more when taken again after a crash or a stop


def process_identity() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Inbox:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float = 60.0,
        retention: timedelta = timedelta(hours=48),
        owner: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.lease = timedelta(seconds=lease_seconds)
        self.retention = retention
        self.owner = owner or process_identity()
        self.dialect = sessionmaker.kw["bind"].dialect.name

    async def store(
        self, bot_id: int, updates: list[dict[str, Any]], *, poison: dict[int, str] | None = None
    ) -> None:
        """Write a batch (committed when this returns); ids stored before are left alone."""
        if not updates:
            return
        poison = poison or {}
        now = utcnow()
        rows = [
            {
                "bot_id": bot_id,
                "update_id": raw["update_id"],
                "payload": json.dumps(raw, ensure_ascii=False),
                "status": POISON if raw["update_id"] in poison else PENDING,
                "attempts": 0,
                "error": poison.get(raw["update_id"]),
                "received_at": now,
                "done_at": now if raw["update_id"] in poison else None,
            }
            for raw in updates
        ]
        statement = _STORE[self.dialect == "postgresql"]
        async with self.sessionmaker() as session:
            # One compiled statement whatever the batch's size (``.values(rows)`` was compiled
            # anew for each batch); SQLAlchemy sends a batch as multi-row INSERTs.
            found = await session.scalars(statement, rows[0] if len(rows) == 1 else rows)
            stored = set(found.all())
            await session.commit()
        for row in rows:
            if row["update_id"] not in stored:
                # Telegram sent it again (a restart before the offset moved, a webhook retry).
                default_metrics.duplicate_updates.inc()
                log.info("update %s was stored before; skipped", row["update_id"])

    async def take_back_leases(self, bot_id: int) -> int:
        """Single-process set-ups (SQLite): the previous run's leases are ours at once."""
        async with self.sessionmaker() as session:
            result = await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.bot_id == bot_id, InboxUpdate.status == PENDING)
                .where(InboxUpdate.lease_until.is_not(None))
                .values(lease_until=None, lease_owner=None)
            )
            await session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def claim(self, bot_id: int, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` pending rows (oldest first) whose lease is free or expired.

        One ``UPDATE … WHERE update_id IN (oldest free rows) RETURNING`` (issue 18: reading the
        rows into the session and flushing their changes cost two statements and the unit of
        work for every update)."""
        if limit <= 0:
            return []
        now = utcnow()
        params = {
            "bot": bot_id,
            "now": now,
            "limit": limit,
            "until": now + self.lease,
            "owner": self.owner,
        }
        async with SessionScope(self.sessionmaker) as session:
            # the statement, its commit (autocommit on PostgreSQL) in one call (issue 18)
            claim = _CLAIMS[self.dialect == "postgresql"]
            found = await run_driver(
                session, claim, params, alone=True, commit=True, fetch=all_rows
            )
            # (update_id, payload, attempts), read by position: on PostgreSQL the rows are
            # asyncpg's own records (bot.db.pgdriver), elsewhere SQLAlchemy's rows
            rows = sorted(tuple(row) for row in found)
        return [
            Claimed(update_id, json.loads(payload), attempts)
            for update_id, payload, attempts in rows
        ]

    async def renew(self, bot_id: int, update_ids: list[int]) -> None:
        """Extend the lease of rows still being handled here."""
        if not update_ids:
            return
        async with self.sessionmaker() as session:
            await session.execute(
                update(InboxUpdate)
                .where(
                    InboxUpdate.bot_id == bot_id,
                    InboxUpdate.update_id.in_(update_ids),
                    InboxUpdate.lease_owner == self.owner,
                    InboxUpdate.status == PENDING,
                )
                .values(lease_until=utcnow() + self.lease)
            )
            await session.commit()

    @staticmethod
    async def mark_done(
        session: AsyncSession,
        bot_id: int,
        update_id: int,
        error: str | None = None,
        *,
        commit: bool = False,
        alone: bool = False,
    ) -> None:
        """Part of the caller's transaction: the row is done when that commits; with
        ``commit``, committed here, in the same call (issue 18). ``alone``: nothing else waits
        for that commit (no FSM change), so on PostgreSQL a session with no transaction open
        makes the done-mark in autocommit."""
        params = {"bot": bot_id, "update": update_id, "when": utcnow(), "why": error}
        await run_driver(session, _MARK_DONE, params, alone=alone, commit=commit)

    async def mark_failed(self, bot_id: int, update_id: int, error: str) -> None:
        async with self.sessionmaker() as session:
            await self.mark_done(session, bot_id, update_id, error[:2000], commit=True)

    async def release(self, bot_id: int, update_id: int) -> None:
        """Give a row back at once (its handling was stopped): the next claim takes it."""
        async with self.sessionmaker() as session:
            await session.execute(
                update(InboxUpdate)
                .where(
                    InboxUpdate.bot_id == bot_id,
                    InboxUpdate.update_id == update_id,
                    InboxUpdate.status == PENDING,
                )
                .values(lease_until=None, lease_owner=None)
            )
            await session.commit()

    async def calls_made(self, bot_id: int, update_id: int) -> dict[int, tuple[str, str]]:
        """The recorded calls of an update taken again: seq -> (method, result JSON)."""
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(UpdateCall.seq, UpdateCall.method, UpdateCall.result).where(
                    UpdateCall.bot_id == bot_id, UpdateCall.update_id == update_id
                )
            )
            return {seq: (method, result) for seq, method, result in rows}

    async def pending(self, bot_id: int) -> int:
        from sqlalchemy import func

        async with self.sessionmaker() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(InboxUpdate)
                    .where(InboxUpdate.bot_id == bot_id, InboxUpdate.status == PENDING)
                )
                or 0
            )

    async def prune(self) -> int:
        """Delete done and poison rows (and their calls) older than the retention window."""
        cutoff = utcnow() - self.retention
        async with self.sessionmaker() as session:
            result = await session.execute(
                delete(InboxUpdate).where(
                    InboxUpdate.status != PENDING, InboxUpdate.received_at < cutoff
                )
            )
            await session.execute(delete(UpdateCall).where(UpdateCall.created_at < cutoff))
            await session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
