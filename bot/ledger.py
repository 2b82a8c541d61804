"""The update ledger: each update id claimed once, so a redelivered update is skipped.

:class:`UpdateLedger` claims an update's id in ``processed_updates`` with one INSERT that
conflicts on the primary key, so of two deliveries of one update (a webhook retry, a restart
before ``getUpdates`` confirmed the offset, the same update reaching two processes) exactly one
is handled. Updates from the inbox (:mod:`bot.inbox`) are claimed by their inbox row instead.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from sqlalchemy import Table, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import DriverStatement, run_driver, utcnow
from bot.db.models.reliability import ProcessedUpdate

log = logging.getLogger(__name__)

DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, OSError, ConnectionError)

_TABLE: Table = ProcessedUpdate.__table__  # type: ignore[assignment]
# The claim, built once per dialect (issue 18: building and keying ``insert().values()`` for
# every update cost more than running it); the values come as parameters, sent as SQL
# compiled once (:class:`bot.db.base.DriverStatement`).
_CLAIMS: dict[str, DriverStatement] = {
    "postgresql": DriverStatement(
        pg_insert(_TABLE).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    ),
    "sqlite": DriverStatement(
        sqlite_insert(_TABLE).on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
    ),
}


class UpdateLedger:
    """Claims update ids in the database; a claim that conflicts means "already handled"."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retention: timedelta = timedelta(hours=48),
        prune_every: int = 1000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.retention = retention
        self.prune_every = prune_every
        self._claims = 0

    @staticmethod
    def _insert(dialect: str) -> DriverStatement:
        statement = _CLAIMS.get(dialect)
        if statement is None:
            raise NotImplementedError(f"no atomic claim for the {dialect} dialect")
        return statement

    async def claim(
        self, bot_id: int, update_id: int, session: AsyncSession | None = None
    ) -> bool:
        """True when this call claimed the update (handle it), False when it was claimed before.

        The claim is committed at once. With ``session`` (the update's own, still unused) it is
        made and committed there, which saves a connection checkout per update; on failure that
        session is rolled back, so the handler can still use it.
        """
        if session is None:
            async with self.sessionmaker() as own:
                claimed = await self._claim(own, bot_id, update_id)
        else:
            try:
                claimed = await self._claim(session, bot_id, update_id)
            except BaseException:
                with contextlib.suppress(*DB_ERRORS):
                    await session.rollback()
                raise
        if claimed:
            self._claims += 1
            if self._claims % self.prune_every == 0:
                await self.prune()
        return claimed

    async def _claim(self, session: AsyncSession, bot_id: int, update_id: int) -> bool:
        statement = self._insert(session.get_bind().dialect.name)
        params = {"bot_id": bot_id, "update_id": update_id, "claimed_at": utcnow()}
        # the INSERT and its commit in one call; the session's first statement, so on
        # PostgreSQL in autocommit: no BEGIN and COMMIT round trips (issue 18)
        return bool(await run_driver(session, statement, params, alone=True, commit=True))

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forget a claim whose handling never ran to the end, so a redelivery is handled."""
        async with self.sessionmaker() as session:
            await session.execute(
                delete(ProcessedUpdate).where(
                    ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == update_id
                )
            )
            await session.commit()

    async def prune(self) -> int:
        """Delete claims older than the retention window (Telegram keeps updates for a day)."""
        cutoff = utcnow() - self.retention
        try:
            async with self.sessionmaker() as session:
                result = await session.execute(
                    delete(ProcessedUpdate).where(ProcessedUpdate.claimed_at < cutoff)
                )
                await session.commit()
        except DB_ERRORS as exc:
            log.warning("could not prune processed updates: %s", exc)
            return 0
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
