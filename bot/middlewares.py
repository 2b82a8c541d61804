"""Outer middlewares: a database session per update, the user row (made on first contact), and
the user's command menu; the wizard-run recorder that a wizard's router installs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TgUser
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models import Role, User
from bot.inbox import Inbox
from bot.menu import registered_commands
from bot.services.command_menu import CommandMenus
from bot.services.users import WROTE, UserRepository
from bot.services.wizard_runs import step_name, track

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
                # Handled: the inbox row is done in the same commit as the handler's last writes.
                await Inbox.mark_done(session, data["bot"].id, event.update_id)
            await session.commit()
            return result
        async with self.sessionmaker() as session:
            data["session"] = session
            result = await handler(event, data)
            await session.commit()
            return result


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
            # The row must exist (committed) before the handler writes rows that reference it
            # from other sessions; an unchanged row needs no commit.
            if created or session.dirty or session.info.pop(WROTE, False):
                await session.commit()
        return await handler(event, data)


class CommandMenuMiddleware(BaseMiddleware):
    """After a private chat's update, its command menu follows the user's role and language."""

    def __init__(self, menus: CommandMenus) -> None:
        self.menus = menus

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        chat = data.get("event_chat")
        user: User | None = data.get("db_user")
        bot: Bot | None = data.get("bot")
        if chat is None or chat.type != "private" or user is None or bot is None:
            return result
        dispatcher = data.get("dispatcher")
        available = registered_commands(dispatcher) if dispatcher is not None else None
        await self.menus.sync(bot, user, available)
        return result


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
