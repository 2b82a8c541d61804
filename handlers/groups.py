"""Curator groups (/newgroup, /groups), joining by invite code or link (/join), /profile."""

from __future__ import annotations

import html
import secrets

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Role, User
from bot.db.repositories import groups as group_repo
from bot.edits import edit_or_send
from bot.filters import RoleFilter
from bot.i18n import current_locale
from bot.services.programmes import render_verdict
from bot.services.validators import MAX_COURSE
from bot.views.audience import STUDY_FORMS, form_name
from knowledge.programmes import ProgrammeCatalog

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_COURSE_YEAR = max(MAX_COURSE.values())  # as in /apply: a bachelor's 5th year exists


class ProfileForm(StatesGroup):
    faculty = State()
    programme = State()


class ProfileCallback(CallbackData, prefix="prof"):
    field: str  # faculty | programme | course_year | study_form
    value: str = ""


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


# Curators -------------------------------------------------------------------------------------


async def invite_link(bot: Bot, code: str) -> str:
    me = await bot.me()
    return f"https://t.me/{me.username}?start=join_{code}"


async def new_group(
    message: Message, command: CommandObject, db_user: User, session: AsyncSession, bot: Bot
) -> None:
    name = (command.args or "").strip()[:128]
    if not name:
        await message.answer(_("Give the group a name: /newgroup IT-21"))
        return
    group = await group_repo.create_group(
        session, curator_id=db_user.id, name=name, invite_code=new_code()
    )
    await message.answer(
        _(
            "Group «{name}» created. Students join with the code {code} (/join {code}) or "
            "this link: {link}"
        ).format(
            name=html.escape(name),
            code=group.invite_code,
            link=await invite_link(bot, group.invite_code),
        )
    )


async def list_groups(message: Message, db_user: User, session: AsyncSession, bot: Bot) -> None:
    rows = await group_repo.of_curator_with_sizes(session, db_user.id)
    if not rows:
        await message.answer(_("You have no groups yet. Create one with /newgroup NAME."))
        return
    lines = [_("Your groups:")]
    for group, members in rows:
        lines.append(
            _("• {name}: {n} students, code {code}, link {link}").format(
                name=html.escape(group.name),
                n=members,
                code=group.invite_code,
                link=await invite_link(bot, group.invite_code),
            )
        )
    await message.answer("\n".join(lines))


# Students -------------------------------------------------------------------------------------


async def join(
    message: Message, command: CommandObject, db_user: User, session: AsyncSession
) -> None:
    code = (command.args or "").strip()
    if code.lower().startswith("join_"):
        code = code[5:]
    if not code:
        await message.answer(_("Send the code your curator gave you: /join CODE"))
        return
    group = await group_repo.join_by_code(session, db_user.id, code)
    if group is None:
        await message.answer(
            _("No group has the code {code}. Check it with your curator.").format(
                code=html.escape(code)
            )
        )
        return
    await message.answer(
        _(
            "You joined the group «{name}». Your curator's announcements will come here. "
            "Fill in /profile so deadlines reach you."
        ).format(name=html.escape(group.name))
    )


def profile_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Faculty"), callback_data=ProfileCallback(field="faculty"))
    builder.button(text=_("Programme"), callback_data=ProfileCallback(field="programme"))
    for year in range(1, MAX_COURSE_YEAR + 1):
        builder.button(
            text=_("Year {n}").format(n=year),
            callback_data=ProfileCallback(field="course_year", value=str(year)),
        )
    for code in STUDY_FORMS:
        builder.button(
            text=form_name(code), callback_data=ProfileCallback(field="study_form", value=code)
        )
    builder.adjust(2, MAX_COURSE_YEAR, 3)
    return builder.as_markup()


def programme_text(programmes: ProgrammeCatalog, value: str) -> str:
    """A stored programme: its code and name when it is one (older rows hold free text)."""
    direction = programmes.by_code.get(value[:5])
    if direction is None:
        return html.escape(value)
    return f"{html.escape(value)} {html.escape(direction.name_in(current_locale()))}"


async def profile_text(session: AsyncSession, user: User, programmes: ProgrammeCatalog) -> str:
    profile = await group_repo.find_profile(session, user.id)
    groups = await group_repo.names_of_member(session, user.id)
    unset = _("not set")
    return "\n".join(
        [
            _("Your profile"),
            _("Faculty: {v}").format(
                v=html.escape(profile.faculty) if profile and profile.faculty else unset
            ),
            _("Programme: {v}").format(
                v=programme_text(programmes, profile.programme)
                if profile and profile.programme
                else unset
            ),
            _("Course year: {v}").format(
                v=profile.course_year if profile and profile.course_year else unset
            ),
            _("Study form: {v}").format(
                v=form_name(profile.study_form) if profile and profile.study_form else unset
            ),
            _("Groups: {v}").format(v=html.escape(", ".join(groups)) if groups else unset),
        ]
    )


async def show_profile(
    message: Message,
    db_user: User,
    session: AsyncSession,
    state: FSMContext,
    programmes: ProgrammeCatalog,
) -> None:
    await state.clear()
    await message.answer(
        await profile_text(session, db_user, programmes), reply_markup=profile_keyboard()
    )


async def profile_pressed(
    callback: CallbackQuery,
    callback_data: ProfileCallback,
    db_user: User,
    session: AsyncSession,
    state: FSMContext,
    programmes: ProgrammeCatalog,
) -> None:
    field = callback_data.field
    if field in ("faculty", "programme"):
        await state.set_state(ProfileForm.faculty if field == "faculty" else ProfileForm.programme)
        await callback.answer()
        prompt = (
            _("Type your faculty:")
            if field == "faculty"
            else _("Type your programme's code (for example 6B06102) or its name:")
        )
        await callback.message.answer(prompt)  # type: ignore[union-attr]
        return
    profile = await group_repo.get_profile(session, db_user.id)
    if (
        field == "course_year"
        and callback_data.value.isdigit()
        and 1 <= int(callback_data.value) <= MAX_COURSE_YEAR
    ):
        profile.course_year = int(callback_data.value)
    elif field == "study_form" and callback_data.value in STUDY_FORMS:
        profile.study_form = callback_data.value
    else:
        await callback.answer()
        return
    await session.flush()
    await callback.answer(_("Saved."))
    if isinstance(callback.message, Message):
        await edit_or_send(
            callback.message,
            await profile_text(session, db_user, programmes),
            reply_markup=profile_keyboard(),
        )


async def profile_typed(
    message: Message,
    db_user: User,
    session: AsyncSession,
    state: FSMContext,
    programmes: ProgrammeCatalog,
) -> None:
    field = "faculty" if await state.get_state() == ProfileForm.faculty.state else "programme"
    value = (message.text or "").strip()[: 128 if field == "faculty" else 256]
    if field == "programme":
        # The programme lookup the wizard uses: the profile keeps the direction's code, which
        # is what reminders and broadcasts by programme match on.
        result = programmes.lookup(value)
        directions = {c.direction.code for c in result.candidates}
        if len(directions) != 1:
            await message.answer(
                render_verdict(result, current_locale())
                + "\n\n"
                + _("Send the exact code of your programme (6B… or 7M…), or /cancel.")
            )
            return
        value = directions.pop()
    await state.clear()  # committed with what this update writes
    profile = await group_repo.get_profile(session, db_user.id)
    setattr(profile, field, value)
    await session.flush()
    await message.answer(
        await profile_text(session, db_user, programmes), reply_markup=profile_keyboard()
    )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    curator = RoleFilter(Role.CURATOR, Role.STAFF)
    router.message.register(new_group, Command("newgroup"), curator)
    router.message.register(list_groups, Command("groups"), curator)
    router.message.register(join, Command("join"))
    # Invite links (t.me/<bot>?start=join_CODE) reach here when /start defers deep links.
    router.message.register(join, CommandStart(deep_link=True, magic=F.args.startswith("join_")))
    router.message.register(show_profile, Command("profile"))
    router.message.register(
        profile_typed, StateFilter(ProfileForm.faculty, ProfileForm.programme), F.text
    )
    router.callback_query.register(profile_pressed, ProfileCallback.filter())
    return router
