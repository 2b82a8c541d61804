"""aiogram's FSM middleware in two steps: the per-chat lock first, the state read after the
user's row (issue 18).

aiogram reads the state (``raw_state``) as soon as it holds the lock, before the user's row is
known. Read after :mod:`.user` instead, the state of a user whose row this very update created
needs no read: no FSM record of theirs can exist. Every record is written by an update of
theirs (a handler's ``FSMContext``; nothing else writes one), after the user middleware has
made their row, and /forget erases their records with the row
(:mod:`bot.services.personal_data`). Only the database storage is spared the read (Redis
keeps its own keys, which a restored database knows nothing of).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.types import TelegramObject

from bot.fsm import SQLAlchemyStorage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class FsmLock(BaseMiddleware):
    """The per-key lock and the ``state`` context, as aiogram's FSM middleware gives them; the
    state itself is read by :class:`FsmState`, inside the lock."""

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self.fsm = fsm

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        fsm = self.fsm
        context = fsm.resolve_event_context(data["bot"], data)
        data["fsm_storage"] = fsm.storage
        if context is None:
            return await handler(event, data)
        async with fsm.events_isolation.lock(key=context.key):
            data["state"] = context
            return await handler(event, data)


class FsmState(BaseMiddleware):
    """``raw_state``: read, unless the update's user is new (see the module doc)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context: FSMContext | None = data.get("state")
        if context is not None:
            storage = context.storage
            if (
                data.get("user_created")
                and isinstance(storage, SQLAlchemyStorage)
                and context.key.user_id == data["db_user"].id
            ):
                storage.known_empty(context.key)
                data["raw_state"] = None
            else:
                data["raw_state"] = await context.get_state()
        return await handler(event, data)
