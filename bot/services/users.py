"""User rows: created on first contact, language and role changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import hotcache
from bot.db.base import DriverStatement, run_driver, utcnow
from bot.db.models import Role, User

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
_USERS: Table = User.__table__  # type: ignore[assignment]


class TelegramProfile(Protocol):
    """What the repository reads of a Telegram user (aiogram's ``User`` has it): the service
    needs no Telegram type."""

    @property
    def id(self) -> int: ...

    @property
    def first_name(self) -> str: ...

    @property
    def last_name(self) -> str | None: ...

    @property
    def username(self) -> str | None: ...

    @property
    def language_code(self) -> str | None: ...


# A new user's row: inserted unless there, every column given, the id handed back by the same
# statement when it was inserted (issue 18); sent as SQL compiled once
# (:class:`bot.db.base.DriverStatement`), not through the ORM's bulk insert.
_INSERT_NEW = {
    postgres: DriverStatement(
        (pg_insert if postgres else sqlite_insert)(_USERS)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_USERS.c.id)
    )
    for postgres in (False, True)
}
# What a new row holds in the columns a first contact does not set: the model's own scalar
# defaults, else NULL (a column with a computed default must be given: the statement refuses
# to compile without it).
_NEW_ROW_DEFAULTS = {
    column.key: getattr(column.default, "arg", None)
    for column in _USERS.c
    if column.default is None or column.default.is_scalar
}


def _first_value(result: Any) -> Any:
    return result.scalar()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def touch(self, tg_user: TelegramProfile) -> tuple[User, bool]:
        """Return the user's row, creating it on first contact; names and last_seen refreshed.
        True with it when this call created the row (committed before it returns).

        The row comes from the process's :mod:`bot.hotcache` when it holds it (no SELECT): the
        cache forgets a user as soon as any process commits a change to that row. Otherwise a
        user this process never saw is most likely new: the insert-or-nothing comes first, and
        the row is read only when it was there (issue 18: a new student's first update makes
        one statement, not a read and an insert); a user it saw is read first, as a returning
        student whose cached row expired needs no insert attempt."""
        cache = hotcache.of(self.session)
        generation = cache.generation(hotcache.USERS)
        user = cache.user(self.session.sync_session, tg_user.id)
        now = utcnow()
        if user is None and not cache.seen_user(tg_user.id):
            # Two updates of a new user may arrive together (a message and a button, two quick
            # messages, two processes): insert-or-nothing, so the second doesn't fail on the key.
            user = await self._insert_new(tg_user, now)
            if user is not None:
                cache.keep_user(user, generation)
                return user, True
        if user is None:
            user = await self.session.get(User, tg_user.id)
            if user is None:  # not there (any more): insert it, or read the one made meanwhile
                cache.forget_seen(tg_user.id)
                return await self.touch(tg_user)
            cache.keep_user(user, generation)
        # Assign only what changed, and last_seen at most once a minute: an unchanged row costs
        # no UPDATE, so a busy student's messages don't each write the users table.
        fresh = {
            "first_name": tg_user.first_name or user.first_name,
            "last_name": tg_user.last_name,
            "username": tg_user.username,
            "telegram_language": tg_user.language_code,
            "is_active": True,
        }
        for name, value in fresh.items():
            if getattr(user, name) != value:
                setattr(user, name, value)
        if now - user.last_seen_at >= LAST_SEEN_RESOLUTION:
            user.last_seen_at = now
        return user, False

    async def _insert_new(self, tg_user: TelegramProfile, now: datetime) -> User | None:
        """Insert the user's row unless it exists, committed at once: the new row (its values
        are the ones just inserted: no second read), or None when it was there already.

        The row must exist (committed) before the handler writes rows that reference it from
        other sessions, and even a no-op insert holds SQLite's write lock until the commit. On
        PostgreSQL, when it is the transaction's one statement, it runs in autocommit: one
        round trip, not BEGIN, INSERT and COMMIT (issue 18)."""
        values = {
            **_NEW_ROW_DEFAULTS,
            "id": tg_user.id,
            "first_name": tg_user.first_name or "",
            "last_name": tg_user.last_name,
            "username": tg_user.username,
            "telegram_language": tg_user.language_code,
            "role": Role.STUDENT.value,
            "is_active": True,
            "created_at": now,
            "last_seen_at": now,
        }
        statement = _INSERT_NEW[self.session.get_bind().dialect.name == "postgresql"]
        inserted = await run_driver(
            self.session, statement, values, alone=True, commit=True, fetch=_first_value
        )
        if inserted is None:
            return None
        # the row as the session would have loaded it: persistent, unchanged
        return hotcache.attach_user(self.session.sync_session, values)

    async def set_language(self, user: User, lang: str) -> None:
        user.language = lang
        await self.session.flush()

    async def set_role(self, user_id: int, role: Role) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            now = utcnow()
            user = User(
                id=user_id, first_name="", role=role.value, created_at=now, last_seen_at=now
            )
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
