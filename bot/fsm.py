"""FSM storage in the application's database, so a wizard survives a restart without Redis."""

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
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import FsmRecord


class SQLAlchemyStorage(BaseStorage):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def _load(self, session: AsyncSession, key: str) -> FsmRecord | None:
        return await session.get(FsmRecord, key)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        k = self._keys.build(key)
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, k)
            if record is None:
                if value is None:
                    return
                session.add(FsmRecord(key=k, state=value, data={}))
            elif value is None and not record.data:
                await session.execute(delete(FsmRecord).where(FsmRecord.key == k))
            else:
                record.state = value

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._sessionmaker() as session:
            state = await session.scalar(
                select(FsmRecord.state).where(FsmRecord.key == self._keys.build(key))
            )
            return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        k = self._keys.build(key)
        async with self._sessionmaker() as session, session.begin():
            record = await self._load(session, k)
            if record is None:
                if data:
                    session.add(FsmRecord(key=k, state=None, data=dict(data)))
            elif not data and record.state is None:
                await session.execute(delete(FsmRecord).where(FsmRecord.key == k))
            else:
                record.data = dict(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            data = await session.scalar(
                select(FsmRecord.data).where(FsmRecord.key == self._keys.build(key))
            )
            return dict(data or {})

    async def close(self) -> None:
        return None
