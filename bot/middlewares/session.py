"""The update's database session for the handlers, committed when they succeed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.fsm import PENDING as FSM_PENDING
from bot.inbox import Inbox
from bot.pipeline import current_calls

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """The update's ``AsyncSession`` for the handlers; committed when the handler succeeds.

    The session is the one the reliability middleware opened around the update (and claimed
    the update in); without that middleware one is opened here.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        session: AsyncSession | None = data.get("session")
        if session is not None:
            result = await handler(event, data)
            if data.get("inbox_attempt") is not None and isinstance(event, Update):
                # Handled: the inbox row is done in the same commit as the handler's last
                # writes. The calls made since the previous commit need no record: records
                # answer a retake, and an update committed as done is not taken again (issue
                # 18: one INSERT less per update). Dropped only once that commit succeeded; if
                # it fails, the reliability middleware stores them before marking the failure.
                await Inbox.mark_done(
                    session,
                    data["bot"].id,
                    event.update_id,
                    commit=True,
                    alone=not session.info.get(FSM_PENDING),  # else the state joins the mark
                )
                calls = current_calls.get()
                if calls is not None:
                    calls.pending.clear()
                return result
            # Nothing written since the handler's last commit (it commits before replying) and
            # no FSM change waiting for the commit: no commit to make.
            if session.in_transaction() or session.info.get(FSM_PENDING):
                await session.commit()
            return result
        async with self.sessionmaker() as session:
            data["session"] = session
            result = await handler(event, data)
            await session.commit()
            return result
