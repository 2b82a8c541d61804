"""Filters handlers declare: role checks against the stored user row, an open helpdesk ticket."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Role, User
from bot.services.helpdesk import HelpdeskService


class RoleFilter(Filter):
    """Passes when the user's stored role is one of ``roles`` (admins pass every role check)."""

    def __init__(self, *roles: Role | str) -> None:
        self.roles = frozenset(Role(r) for r in roles) | {Role.ADMIN}

    async def __call__(self, event: TelegramObject, db_user: User | None = None) -> bool:
        return db_user is not None and db_user.role_enum in self.roles

    def __str__(self) -> str:
        return f"RoleFilter({', '.join(sorted(r.value for r in self.roles))})"


def has_role(db_user: Any, *roles: Role) -> bool:
    """The same check for code that is not a filter (e.g. validating a callback press)."""
    return db_user is not None and (
        db_user.role_enum is Role.ADMIN or db_user.role_enum in set(roles)
    )


class OpenTicket(Filter):
    """Passes in a private chat when the user has an open ticket; hands it on as ``ticket``."""

    async def __call__(
        self,
        event: TelegramObject,
        session: AsyncSession,
        helpdesk: HelpdeskService,
        db_user: User | None = None,
        user_created: bool = False,
    ) -> bool | dict[str, Any]:
        if db_user is None:
            return False
        # A user whose row this update created (bot.middlewares.user) has no ticket: no read.
        ticket = await helpdesk.open_ticket_of(session, db_user.id, new_user=user_created)
        return {"ticket": ticket} if ticket is not None else False
