"""The user's row, made on first contact, passed to handlers as ``db_user``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TgUser
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models import Role
from bot.services.users import UserRepository

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UserMiddleware(BaseMiddleware):
    """Creates or refreshes the ``users`` row and passes it on as ``db_user``."""

    def __init__(self, settings: Settings) -> None:
        self.admin_ids = frozenset(settings.admin_ids)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        session: AsyncSession | None = data.get("session")
        if tg_user is not None and session is not None and not tg_user.is_bot:
            repo = UserRepository(session)
            db_user, created = await repo.touch(tg_user)
            if tg_user.id in self.admin_ids and db_user.role != Role.ADMIN:
                db_user.role = Role.ADMIN.value
            data["db_user"] = db_user
            data["user_created"] = created
            # A new row is committed already (touch); a changed one is committed before the
            # handler runs, an unchanged one needs no commit.
            if session.dirty:
                await session.commit()
        return await handler(event, data)
