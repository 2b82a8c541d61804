"""FSM storage in the application's database, so a wizard survives a restart without Redis.

While an update is handled, state is read and written through that update's own database
session (:data:`bot.db.base.update_session`, set by the reliability middleware): no second
connection per update (which starved the pool under a rush of returning users), and the new
state is committed together with what the handler wrote, or not at all. Changes wait in the
session (``session.info``) and are written when it commits, so on SQLite the single writer is
taken only for the commit, not across the Telegram calls the handler makes meanwhile. Outside
an update (a background worker, a CLI command) each call opens and commits a session of its
own. Reads are served from the process's :mod:`bot.hotcache` until a write to the key commits.
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
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot import hotcache
from bot.db.base import update_session
from bot.db.models import FsmRecord

PENDING = "fsm_pending"  # session.info key: {storage key: {"state": ..., "data": ...}}


def _store(session: Session, key: str, values: dict[str, Any]) -> None:
    hotcache.changed(session, hotcache.FSM, [key])  # every process forgets it on commit
    record = session.get(FsmRecord, key)
    if record is None:
        if values.get("state") is None and not values.get("data"):
            return
        session.add(FsmRecord(key=key, state=values.get("state"), data=values.get("data", {})))
        return
    # An emptied record stays as a row (state NULL, data {}): one row per person at most.
    for name, value in values.items():
        setattr(record, name, value)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending:
        with session.no_autoflush:
            for key, values in pending.items():
                _store(session, key, values)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING, None)


class SQLAlchemyStorage(BaseStorage):
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def _write(self, key: StorageKey, **values: Any) -> None:
        k = self._keys.build(key)
        session = update_session.get()
        if session is not None:
            session.info.setdefault(PENDING, {}).setdefault(k, {}).update(values)
            return
        async with self._sessionmaker() as own, own.begin():
            await own.run_sync(_store, k, values)

    async def _read(self, key: StorageKey, name: str) -> Any:
        k = self._keys.build(key)
        session = update_session.get()
        if session is not None:
            pending = session.info.get(PENDING, {}).get(k, {})
            if name in pending:
                return pending[name]
        # issue 18: every update asks for the state (to route it); most have none. The record
        # is kept per process and forgotten when any session commits a write to it.
        cache = hotcache.of(self._sessionmaker.kw["bind"])
        cached = cache.get(hotcache.FSM, k)
        if cached is not None:
            return cached[0 if name == "state" else 1]
        generation = cache.generation(hotcache.FSM)
        if session is not None:
            record = await session.get(FsmRecord, k)
        else:
            async with self._sessionmaker() as own:
                record = await own.get(FsmRecord, k)
        values = (record.state, record.data) if record is not None else (None, None)
        cache.put(hotcache.FSM, k, values, generation)
        return values[0 if name == "state" else 1]

    def known_empty(self, key: StorageKey) -> None:
        """``key`` has no record (its user's row was just created: see
        :mod:`bot.middlewares.fsm_state`): kept so, without a read, until a write to it."""
        cache = hotcache.of(self._sessionmaker.kw["bind"])
        k = self._keys.build(key)
        cache.put(hotcache.FSM, k, (None, None), cache.generation(hotcache.FSM))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._write(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        state = await self._read(key, "state")
        return str(state) if state is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, not {type(data).__name__}")
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict(await self._read(key, "data") or {})

    async def close(self) -> None:
        return None
