"""The wizard-run recorder a wizard's router installs (issue 13's funnel)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.services.wizard_runs import step_name, track

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class WizardRunMiddleware(BaseMiddleware):
    """Inner middleware of a wizard's router: records each run's steps (issue 13's funnel).

    It runs only for updates a handler of that router took, so the rest of the bot pays
    nothing; the state before the update is aiogram's ``raw_state``, the state after is read
    once more from the FSM."""

    def __init__(self, group: str, wizard: str) -> None:
        self.group = group
        self.wizard = wizard

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        state = data.get("state")
        session: AsyncSession | None = data.get("session")
        user: User | None = data.get("db_user")
        if state is None or session is None or user is None:
            return result
        before = step_name(data.get("raw_state"), self.group)
        after = step_name(await state.get_state(), self.group)
        if before is None and after is None:
            return result
        kind = (await state.get_data()).get("kind") if after is not None else None
        await track(
            session,
            user_id=user.id,
            wizard=self.wizard,
            before=before,
            after=after,
            kind=kind if isinstance(kind, str) else None,
        )
        return result
