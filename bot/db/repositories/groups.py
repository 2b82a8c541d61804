"""Curator groups, their members and the students' profiles."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.groups import CuratorGroup, GroupMember, StudentProfile

# Profiles -----------------------------------------------------------------------------------


async def find_profile(session: AsyncSession, user_id: int) -> StudentProfile | None:
    return await session.get(StudentProfile, user_id)


async def get_profile(session: AsyncSession, user_id: int) -> StudentProfile:
    """The student's profile, created (every reminder on) when they have none yet."""
    profile = await session.get(StudentProfile, user_id)
    if profile is None:
        profile = StudentProfile(
            user_id=user_id,
            remind_deadlines=True,
            remind_orientation=True,
            remind_announcements=True,
        )
        session.add(profile)
        await session.flush()
    return profile


# Groups -------------------------------------------------------------------------------------


async def create_group(
    session: AsyncSession, *, curator_id: int, name: str, invite_code: str
) -> CuratorGroup:
    group = CuratorGroup(curator_id=curator_id, name=name, invite_code=invite_code)
    session.add(group)
    await session.flush()
    return group


async def join_by_code(session: AsyncSession, user_id: int, code: str) -> CuratorGroup | None:
    """Make the user a member of the group with this invite code (once); None: no such code."""
    group = await session.scalar(
        select(CuratorGroup).where(CuratorGroup.invite_code == code.strip().upper())
    )
    if group is None:
        return None
    if await session.get(GroupMember, (group.id, user_id)) is None:
        session.add(GroupMember(group_id=group.id, user_id=user_id))
        await session.flush()
    return group


async def of_curator(session: AsyncSession, curator_id: int) -> list[CuratorGroup]:
    """The curator's groups by name."""
    return list(
        await session.scalars(
            select(CuratorGroup)
            .where(CuratorGroup.curator_id == curator_id)
            .order_by(CuratorGroup.name)
        )
    )


async def of_curator_with_sizes(
    session: AsyncSession, curator_id: int
) -> list[tuple[CuratorGroup, int]]:
    """The curator's groups by name, each with its number of members (one query)."""
    rows = await session.execute(
        select(CuratorGroup, func.count(GroupMember.user_id))
        .outerjoin(GroupMember, GroupMember.group_id == CuratorGroup.id)
        .where(CuratorGroup.curator_id == curator_id)
        .group_by(CuratorGroup.id)
        .order_by(CuratorGroup.name)
    )
    return [(group, int(count)) for group, count in rows.all()]


async def ids_of_member(session: AsyncSession, user_id: int) -> set[int]:
    return set(
        await session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user_id))
    )


async def names_of_member(session: AsyncSession, user_id: int) -> list[str]:
    """The names of the groups the user belongs to."""
    return list(
        await session.scalars(
            select(CuratorGroup.name)
            .join(GroupMember, GroupMember.group_id == CuratorGroup.id)
            .where(GroupMember.user_id == user_id)
        )
    )


async def names(session: AsyncSession, group_ids: Iterable[int]) -> dict[int, str]:
    """``{id: name}`` of these groups (one query; unknown ids are left out)."""
    wanted = set(group_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(CuratorGroup.id, CuratorGroup.name).where(CuratorGroup.id.in_(wanted))
    )
    return {group_id: name for group_id, name in rows.all()}


async def id_by_name(session: AsyncSession, name: str | None) -> int | None:
    return await session.scalar(select(CuratorGroup.id).where(CuratorGroup.name == name))
