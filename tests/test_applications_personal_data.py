"""The /mydata and /forget registry: other areas plug in without editing it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import User
from bot.services.personal_data import PersonalDataRegistry, _fsm_key_user
from tests.harness import STUDENT_EN, Harness


class TicketsLike:
    """What another area's service looks like to the registry (a PersonalDataProvider)."""

    personal_data_key = "tickets"
    personal_data_tables: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.erased: list[int] = []

    async def collect_personal_data(self, session: AsyncSession, user_id: int) -> list[Any]:
        return [{"ticket": 1, "user": user_id}]

    async def erase_personal_data(self, session: AsyncSession, user_id: int) -> int:
        # Runs before the user row goes: the row is still there for rows that reference it.
        assert await session.get(User, user_id) is not None
        self.erased.append(user_id)
        return 1


async def test_services_and_explicit_providers_take_part(harness: Harness) -> None:
    await harness.send("/start", user=STUDENT_EN)
    registry = PersonalDataRegistry()
    seen: list[str] = []

    async def collect_notes(session: AsyncSession, user_id: int) -> dict[str, int]:
        return {"notes": user_id}

    async def erase_notes(session: AsyncSession, user_id: int) -> int:
        seen.append("notes")
        return 2

    registry.register("notes", collect_notes, erase_notes)
    with pytest.raises(ValueError):
        registry.register("notes", collect_notes, erase_notes)
    tickets = TicketsLike()
    services = [*harness.ctx.services.personal_data_providers(), tickets]
    async with harness.ctx.sessionmaker() as session:
        data = await registry.collect(session, STUDENT_EN.id, services)
        assert list(data)[-2:] == ["fsm", "user"]
        assert data["notes"] == {"notes": STUDENT_EN.id}
        assert data["tickets"] == [{"ticket": 1, "user": STUDENT_EN.id}]
        assert data["applications"] == [] and data["user"]["first_name"] == "John"
        counts = await registry.erase(session, STUDENT_EN.id, services)
        await session.commit()
    assert counts["notes"] == 2 and counts["tickets"] == 1 and counts["user"] == 1
    assert tickets.erased == [STUDENT_EN.id] and seen == ["notes"]
    async with harness.ctx.sessionmaker() as session:
        assert await session.get(User, STUDENT_EN.id) is None


def test_fsm_keys_name_their_user() -> None:
    assert _fsm_key_user("fsm:1003:1003:default") == "1003"
    assert _fsm_key_user("fsm:-100123:5:2001:default") == "2001"
    assert _fsm_key_user("odd") is None
