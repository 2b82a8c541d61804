"""User rows: created on first contact, language and role changes."""

from __future__ import annotations

from aiogram.types import User as TgUser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import utcnow
from bot.db.models import Role, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def touch(self, tg_user: TgUser) -> tuple[User, bool]:
        """Return the user's row, creating it on first contact; names and last_seen refreshed."""
        user = await self.session.get(User, tg_user.id)
        now = utcnow()
        if user is None:
            user = User(
                id=tg_user.id,
                first_name=tg_user.first_name or "",
                last_name=tg_user.last_name,
                username=tg_user.username,
                telegram_language=tg_user.language_code,
                role=Role.STUDENT.value,
                is_active=True,
                created_at=now,
                last_seen_at=now,
            )
            self.session.add(user)
            await self.session.flush()
            return user, True
        user.first_name = tg_user.first_name or user.first_name
        user.last_name = tg_user.last_name
        user.username = tg_user.username
        user.telegram_language = tg_user.language_code
        user.last_seen_at = now
        user.is_active = True
        return user, False

    async def set_language(self, user: User, lang: str) -> None:
        user.language = lang
        await self.session.flush()

    async def set_role(self, user_id: int, role: Role) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            now = utcnow()
            user = User(id=user_id, first_name="", role=role.value, created_at=now, last_seen_at=now)
            self.session.add(user)
        else:
            user.role = role.value
        await self.session.flush()
        return user

    async def with_role(self, *roles: Role) -> list[User]:
        rows = await self.session.scalars(
            select(User).where(User.role.in_([r.value for r in roles])).order_by(User.id)
        )
        return list(rows)
