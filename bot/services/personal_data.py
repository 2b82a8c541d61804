"""/mydata and /forget: every area's per-user rows, collected and erased through one registry.

An area takes part in one of two ways, with no edit to this file:

* its service is a :class:`PersonalDataProvider` (``personal_data_key``,
  ``personal_data_tables`` and two methods ``async collect_personal_data(session, user_id) ->
  JSON-able`` and ``async erase_personal_data(session, user_id) -> int``, rows removed or
  anonymised) listed in :meth:`bot.app.Services.personal_data_providers`; or
* it calls ``registry.register(key, collect, erase)`` on the ``personal_data`` service with two
  plain functions taking ``(session, user_id)``.

Area erasers run first (their rows may reference ``users``), then the FSM records and the user
row itself. Everything runs in the caller's session, so /forget is one transaction.

Rows of tables no provider covers are not lost either: /mydata adds every row of every table
with a foreign key to ``users.id`` (section ``other``), and deleting the user row removes or
detaches them through those keys' ``ON DELETE CASCADE / SET NULL``. A provider lists the tables
it covers in ``personal_data_tables`` (provider attribute or ``register(tables=...)``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Base, FsmRecord, User

Collector = Callable[[AsyncSession, int], Awaitable[Any]]
Eraser = Callable[[AsyncSession, int], Awaitable[int]]


class PersonalDataProvider(Protocol):
    """A service that keeps per-user rows of its own and answers for them."""

    @property
    def personal_data_key(self) -> str:
        """The section of /mydata."""

    @property
    def personal_data_tables(self) -> tuple[str, ...]:
        """The tables it covers (not repeated under ``other``)."""

    async def collect_personal_data(self, session: AsyncSession, user_id: int) -> Any: ...

    async def erase_personal_data(self, session: AsyncSession, user_id: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Provider:
    key: str
    collect: Collector | None
    erase: Eraser | None
    tables: tuple[str, ...] = ()


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _fsm_key_user(key: str) -> str | None:
    """The user id inside an aiogram storage key (``fsm:<chat>[:<thread>]:<user>:<destiny>``)."""
    parts = key.split(":")
    return parts[-2] if len(parts) >= 4 else None


async def _fsm_rows(session: AsyncSession, user_id: int) -> list[FsmRecord]:
    needle = f":{user_id}:"
    rows = (await session.scalars(select(FsmRecord).where(FsmRecord.key.contains(needle)))).all()
    return [r for r in rows if _fsm_key_user(r.key) == str(user_id)]


async def collect_fsm(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    return [
        {"key": r.key, "state": r.state, "data": r.data, "updated_at": _iso(r.updated_at)}
        for r in await _fsm_rows(session, user_id)
    ]


async def erase_fsm(session: AsyncSession, user_id: int) -> int:
    rows = await _fsm_rows(session, user_id)
    if rows:
        await session.execute(delete(FsmRecord).where(FsmRecord.key.in_([r.key for r in rows])))
    return len(rows)


def _user_columns(table: Table) -> list[str]:
    return [
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table.name == User.__tablename__ and fk.column.name == "id"
    ]


async def collect_other_tables(
    session: AsyncSession, user_id: int, covered: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """Rows of every other table that references the user, keyed by table name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in covered or table.name == User.__tablename__:
            continue
        columns = _user_columns(table)
        if not columns:
            continue
        rows: list[dict[str, Any]] = []
        for column in columns:
            result = await session.execute(select(table).where(table.c[column] == user_id))
            rows += [{k: _iso(v) for k, v in row._mapping.items()} for row in result]
        if rows:
            out[table.name] = rows
    return out


async def collect_user(session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    return {column.key: _iso(getattr(user, column.key)) for column in User.__table__.columns}


async def erase_user(session: AsyncSession, user_id: int) -> int:
    result = await session.execute(delete(User).where(User.id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


class PersonalDataRegistry:
    """Registered providers, then the services given (:class:`PersonalDataProvider`); core
    (FSM, user) last."""

    def __init__(self) -> None:
        self._providers: list[Provider] = []

    def register(
        self,
        key: str,
        collect: Collector | None = None,
        erase: Eraser | None = None,
        *,
        tables: tuple[str, ...] = (),
    ) -> None:
        if any(p.key == key for p in self._providers):
            raise ValueError(f"personal data provider {key!r} registered twice")
        self._providers.append(Provider(key, collect, erase, tables))

    def providers(self, services: Iterable[PersonalDataProvider] = ()) -> list[Provider]:
        found = list(self._providers)
        keys = {p.key for p in found}
        for service in services:
            key = service.personal_data_key
            if key not in keys:
                found.append(
                    Provider(
                        key,
                        service.collect_personal_data,
                        service.erase_personal_data,
                        tuple(service.personal_data_tables),
                    )
                )
                keys.add(key)
        found.append(Provider("fsm", collect_fsm, erase_fsm))
        found.append(Provider("user", collect_user, erase_user))
        return found

    async def collect(
        self, session: AsyncSession, user_id: int, services: Iterable[PersonalDataProvider] = ()
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        providers = self.providers(services)
        for provider in providers:
            if provider.collect is not None:
                out[provider.key] = await provider.collect(session, user_id)
        covered = {t for p in providers for t in p.tables}
        other = await collect_other_tables(session, user_id, covered)
        if other:
            out["other"] = other
        return out

    async def erase(
        self, session: AsyncSession, user_id: int, services: Iterable[PersonalDataProvider] = ()
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for provider in self.providers(services):
            if provider.erase is not None:
                counts[provider.key] = int(await provider.erase(session, user_id) or 0)
                await session.flush()
        return counts
