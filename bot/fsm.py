"""FSM storage in the application's database, so a wizard survives a restart without Redis.

While an update is handled, state is read and written through that update's own database
session (:data:`bot.db.base.update_session`, set by the reliability middleware): no second
connection per update (which starved the pool under a rush of returning users), and the new
state is committed together with what the handler wrote, or not at all. The changes are made
on ORM objects and reach the database at the session's next flush — usually its commit — so
on SQLite the single writer is held only for that moment. Outside an update (a background
worker, a CLI command) each call opens and commits a session of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StateType,
    StorageKey,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.base import update_session
from bot.db.models import FsmRecord


class SQLAlchemyStorage(BaseStorage):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    @staticmethod
    async def _record(session: AsyncSession, key: str) -> FsmRecord | None:
        # From the identity map when this session loaded or wrote it already.
        return await session.get(FsmRecord, key)

    async def _write(self, key: StorageKey, **values: Any) -> None:
        session = update_session.get()
        if session is not None:
            await self._apply(session, self._keys.build(key), values)
            return
        async with self._sessionmaker() as own, own.begin():
            await self._apply(own, self._keys.build(key), values)

    async def _apply(self, session: AsyncSession, k: str, values: dict[str, Any]) -> None:
        record = await self._record(session, k)
        if record is None:
            if values.get("state") is None and not values.get("data"):
                return
            session.add(FsmRecord(key=k, state=values.get("state"), data=values.get("data", {})))
            return
        # An emptied record stays as a row (state NULL, data {}); deleting it here and adding
        # it again in the same session would need a flush in between.
        for name, value in values.items():
            setattr(record, name, value)

    async def _read(self, key: StorageKey) -> FsmRecord | None:
        session = update_session.get()
        if session is not None:
            return await self._record(session, self._keys.build(key))
        async with self._sessionmaker() as own:
            return await self._record(own, self._keys.build(key))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(key)
        return record.state if record is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(key)
        return dict(record.data or {}) if record is not None else {}

    async def close(self) -> None:
        return None
